"""Link the real photos of a source folder that an aligned-pairs manifest did NOT use, to
calibrate a detector trained on those pairs on reals it never saw.

    .venv/bin/python scripts/held_out_reals.py runs/aligned/manifest.csv ../shared/data/imagenet-sample \\
        runs/imagenet_heldout_reals

`make-fakes` names each group by its real image's content id (`data.images.file_image_id`), so a
photo is held out when its id is no group of the manifest. Links, never copies (shared data
stays where it is).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from deepfake_detect.data import load_dataset
from deepfake_detect.data.images import file_image_id
from deepfake_detect.data.walk import image_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    used = {record.group for record in load_dataset(str(args.manifest)).records if record.group}
    args.out.mkdir(parents=True, exist_ok=True)
    held = [path for path in image_files(args.source) if file_image_id(path) not in used]
    for path in held:
        link = args.out / path.name
        if not link.exists():
            link.symlink_to(path.resolve())
    print(f"{len(held)} held-out reals (of {len(held) + len(used)}) linked in {args.out}")


if __name__ == "__main__":
    main()
