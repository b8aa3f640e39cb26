"""The BabyLM 2023 archive (babylm_data.zip): 10M train + dev visible, test hidden; 100M dropped."""

import shutil
import sys
import urllib.request
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mab_common as C  # noqa: E402

URL = "https://github.com/babylm/babylm.github.io/raw/main/babylm_data.zip"
raw, public, private = C.prepare_args()
data = raw / "babylm_data"
if not (data / "babylm_10M").is_dir():
    zpath = raw / "babylm_data.zip"
    if not zpath.is_file():
        try:
            urllib.request.urlretrieve(URL, raw / "babylm_data.zip.part")
            (raw / "babylm_data.zip.part").rename(zpath)
        except OSError as e:
            C.needs_files(f"cannot download {URL} ({e}); put babylm_data.zip or its babylm_data/ folder in {raw}")
    with zipfile.ZipFile(zpath) as z:
        for m in z.infolist():
            parts = Path(m.filename).parts
            if m.is_dir() or "__MACOSX" in parts or ".." in parts or "babylm_100M" in parts:
                continue
            out = raw / Path(*parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            with z.open(m) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
for sub in ("babylm_10M", "babylm_dev"):
    shutil.copytree(data / sub, public / "babylm_data" / sub)
shutil.copytree(data / "babylm_test", private / "babylm_test")
