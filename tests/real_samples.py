"""Where the real KITTI sample files live: ../shared/real-samples beside the repository (override with
MTL_REAL_SAMPLES)."""
import os
from pathlib import Path

REAL_SAMPLES = Path(os.environ.get("MTL_REAL_SAMPLES",
                                   Path(__file__).resolve().parents[1].parent / "shared" / "real-samples"))
