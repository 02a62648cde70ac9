#!/usr/bin/python3
"""Pillow (Debian's python3-pil) as the independent writer and reader of the image tests.

  images_pil.py make DIR        writes PNG, JPEG and WebP files of every kind the decoder reads
  images_pil.py animated FILE   writes an animated WebP
  images_pil.py read FILE MODE  prints FILE as Pillow (and torchvision) decode it, in MODE (RGB
                                or L): ImageOps.exif_transpose, then convert(MODE); one line of
                                JSON {"width", "height", "channels", "hex"} (the HWC bytes)
  images_pil.py digest MODE FILE...
                                the same for many files, one line each: {"file", "width",
                                "height", "channels", "sha256"} (of the HWC bytes), or {"file",
                                "error"} for a file Pillow refuses
A 16-bit grey PNG is read as its samples' high bytes (Pillow's convert("L") would clip them).
"""
import hashlib
import json
import math
import struct
import sys
import zlib

from PIL import Image, ImageOps


def photo(w, h, seed):
    """Smooth gradients, edges and noise: what a camera's JPEG encoder meets."""
    im = Image.new("RGB", (w, h))
    px = im.load()
    state = seed
    for y in range(h):
        for x in range(w):
            state = (state * 1103515245 + 12345) & 0x7FFFFFFF
            noise = (state >> 16) % 24
            r = int(127 + 100 * math.sin(x / 7.0 + seed)) + noise
            g = int(127 + 100 * math.cos(y / 5.0)) - noise
            b = 255 if (x // 9 + y // 9) % 2 else (x * 255) // max(1, w - 1)
            px[x, y] = (max(0, min(255, r)), max(0, min(255, g)), b)
    return im


def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def rgb16_png(path, w, h):
    """A 16-bit RGB PNG, written by hand (Pillow writes no 16-bit RGB)."""
    rows = b""
    for y in range(h):
        rows += b"\0"
        for x in range(w):
            rows += struct.pack(">HHH", (x * 4099 + y * 7) % 65536, (y * 6151) % 65536,
                                (x * y * 97) % 65536)
    data = (b"\x89PNG\r\n\x1a\n" +
            png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)) +
            png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)


def make(d):
    base = photo(61, 43, 1)
    base.save(f"{d}/rgb.png")
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(base.size))
    rgba.save(f"{d}/rgba.png")
    base.convert("L").save(f"{d}/grey.png")
    base.convert("LA").save(f"{d}/grey_alpha.png")
    pal = base.convert("P", palette=Image.ADAPTIVE, colors=37)
    pal.save(f"{d}/palette.png")
    pal.save(f"{d}/palette_transparent.png", transparency=5)
    base.convert("1").save(f"{d}/bilevel.png")
    grey16 = Image.new("I;16", (29, 17))
    grey16.putdata([(i * 977) % 65536 for i in range(29 * 17)])
    grey16.save(f"{d}/grey16.png")
    rgb16_png(f"{d}/rgb16.png", 23, 11)
    base.save(f"{d}/baseline.jpg", quality=90)
    base.save(f"{d}/baseline444.jpg", quality=95, subsampling=0)
    photo(64, 48, 2).save(f"{d}/progressive.jpg", quality=80, progressive=True)
    base.convert("L").save(f"{d}/grey.jpg", quality=85)
    base.convert("CMYK").save(f"{d}/cmyk.jpg", quality=90)
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        photo(20, 13, o).save(f"{d}/orientation{o}.jpg", quality=90, exif=exif.tobytes())
    base.save(f"{d}/lossy.webp", quality=80)
    base.save(f"{d}/lossless.webp", lossless=True)
    rgba.save(f"{d}/alpha_lossy.webp", quality=70)
    rgba.save(f"{d}/alpha_lossless.webp", lossless=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo(20, 13, 6).save(f"{d}/orientation6.webp", quality=90, exif=exif.tobytes())


def animated(path):
    """A two-frame animated WebP (read as its first frame by Pillow; refused by entrenar)."""
    frames = [photo(16, 12, 1), photo(16, 12, 2)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)


def pixels(path, mode):
    im = Image.open(path)
    if im.mode in ("I;16", "I;16B", "I"):
        samples = list(im.getdata())
        out = Image.new("L", im.size)
        out.putdata([s >> 8 for s in samples])
        im = out
    return ImageOps.exif_transpose(im).convert(mode)


def read(path, mode):
    im = pixels(path, mode)
    print(json.dumps({"width": im.width, "height": im.height, "channels": len(im.getbands()),
                      "hex": im.tobytes().hex()}))


def digest(mode, paths):
    for path in paths:
        try:
            im = pixels(path, mode)
        except Exception as e:  # what Pillow refuses (a truncated file) is reported, not raised
            print(json.dumps({"file": path, "error": f"{type(e).__name__}: {e}"}))
            continue
        print(json.dumps({"file": path, "width": im.width, "height": im.height,
                          "channels": len(im.getbands()),
                          "sha256": hashlib.sha256(im.tobytes()).hexdigest()}))


def main():
    if sys.argv[1] == "make":
        make(sys.argv[2])
    elif sys.argv[1] == "animated":
        animated(sys.argv[2])
    elif sys.argv[1] == "digest":
        digest(sys.argv[2], sys.argv[3:])
    else:
        read(sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
