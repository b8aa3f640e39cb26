"""CIFAR-10 exactly as the cifar10 task prepares it (official tarball, or torchvision's download)."""

import runpy
import sys
from pathlib import Path

script = Path(__file__).resolve().parents[3] / "cifar10" / "scripts" / "prepare.py"
sys.argv[0] = str(script)
runpy.run_path(str(script), run_name="__main__")
