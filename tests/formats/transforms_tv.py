#!/usr/bin/python3
"""torchvision (Debian's python3-torchvision) as the reference for entrenar's image transforms.

  transforms_tv.py check CASES   CASES is a JSON file of cases written by the C++ test: each
                                 {"file", "mode", "steps", "draws", "width", "height", "hex"}:
                                 an image file, the mode it is read in (RGB or L), the steps of
                                 data.augmentation as entrenar's Transform (kind, size, padding,
                                 pad_mode, probability, fill), what entrenar's random steps drew
                                 (a rotation: its angle), and
                                 entrenar's result (HWC bytes). The file is read with Pillow and
                                 put through torchvision's transforms, replaying the draws;
                                 prints one line of JSON per case: {"case", "width", "height",
                                 "differing"} (the bytes that differ from entrenar's).
  transforms_tv.py folder DIR     prints torchvision's ImageFolder(DIR) as JSON {"classes",
                                 "samples": [[path, class index], ...]}.
  transforms_tv.py normalize FILE MODE MEAN STD
                                 prints torchvision's ToTensor then Normalize of FILE as JSON
                                 {"shape", "values"} (float32 values, CHW).
"""
import json
import sys

from PIL import Image
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F


def run_case(case):
    im = Image.open(case["file"]).convert(case["mode"])
    draws = iter(case["draws"])
    for step in case["steps"]:
        kind, size = step["kind"], step["size"]
        if kind == "resize":
            im = T.Resize(size if len(size) == 2 else size[0])(im)
        elif kind == "center_crop":
            im = T.CenterCrop(size)(im)
        elif kind == "random_crop":
            h, w = (size[0], size[1]) if len(size) == 2 else (size[0], size[0])
            if step["padding"]:
                im = F.pad(im, step["padding"], fill=0, padding_mode=step["pad_mode"])
            d = next(draws)
            if im.height < h or im.width < w or d["top"] > im.height - h or d["left"] > im.width - w:
                raise ValueError(f"draw {d} outside RandomCrop's range for {im.size}")
            im = F.crop(im, d["top"], d["left"], h, w)
        elif kind == "random_resized_crop":
            d = next(draws)
            out = (size[0], size[1]) if len(size) == 2 else (size[0], size[0])
            im = F.resized_crop(im, d["top"], d["left"], d["height"], d["width"], list(out))
        elif kind == "color_jitter":
            d = next(draws)
            adjust = [F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue]
            for k in d["order"]:
                if d["factors"][k] is not None:
                    im = adjust[k](im, d["factors"][k])
        elif kind == "rotation":
            im = F.rotate(im, next(draws)["angle"], T.InterpolationMode.NEAREST, fill=step["fill"])
        elif kind in ("horizontal_flip", "vertical_flip"):
            if next(draws)["flip"]:
                im = F.hflip(im) if kind == "horizontal_flip" else F.vflip(im)
        else:
            raise ValueError(f"unknown step {kind}")
    theirs = im.tobytes()
    ours = bytes.fromhex(case["hex"])
    differing = sum(a != b for a, b in zip(theirs, ours)) + abs(len(theirs) - len(ours))
    return {"width": im.width, "height": im.height, "differing": differing}


def main():
    if sys.argv[1] == "check":
        cases = json.load(open(sys.argv[2]))
        for i, case in enumerate(cases):
            out = run_case(case)
            out["case"] = i
            print(json.dumps(out))
    elif sys.argv[1] == "folder":
        from torchvision.datasets import ImageFolder
        folder = ImageFolder(sys.argv[2])
        print(json.dumps({"classes": folder.classes, "samples": folder.samples}))
    elif sys.argv[1] == "normalize":
        im = Image.open(sys.argv[2]).convert(sys.argv[3])
        mean = [float(v) for v in sys.argv[4].split(",")]
        std = [float(v) for v in sys.argv[5].split(",")]
        t = T.Normalize(mean, std)(T.ToTensor()(im))
        print(json.dumps({"shape": list(t.shape), "values": t.flatten().tolist()}))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
