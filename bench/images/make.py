#!/usr/bin/python3
"""Writes COUNT photo-like 320 x 240 RGB JPEGs (quality 90) into FOLDER/class0 .. class9.

  make.py FOLDER COUNT
"""
import os
import sys

from PIL import Image, ImageFilter


def main():
    folder, count = sys.argv[1], int(sys.argv[2])
    for i in range(count):
        d = os.path.join(folder, f"class{i % 10}")
        os.makedirs(d, exist_ok=True)
        noise = Image.effect_noise((320, 240), 40 + i % 30).convert("RGB")
        grad = Image.linear_gradient("L").resize((320, 240)).convert("RGB")
        im = Image.blend(noise, grad, 0.5).filter(ImageFilter.GaussianBlur(1 + i % 3))
        im.save(os.path.join(d, f"{i:05d}.jpg"), quality=90)


if __name__ == "__main__":
    main()
