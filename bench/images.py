#!/usr/bin/python3
"""Images per second through torchvision's DataLoader: the pipeline of bench/images.cc
(RandomResizedCrop(224), RandomHorizontalFlip(), ToTensor(), Normalize) over
ImageFolder(FOLDER), shuffled, with WORKERS processes; the best of EPOCHS epochs.

  images.py FOLDER [WORKERS] [BATCH] [EPOCHS]
"""
import json
import sys
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms as T


def main():
    folder = sys.argv[1]
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    torch.set_num_threads(1)
    pipeline = T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(),
                          T.ToTensor(),
                          T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    data = datasets.ImageFolder(folder, transform=pipeline)
    loader = DataLoader(data, batch_size=batch, shuffle=True, num_workers=workers)
    best = 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        checksum = 0.0
        for x, _ in loader:
            checksum += float(x[0, 0, 0, 0])
        best = max(best, len(data) / (time.perf_counter() - start))
    print(json.dumps({"loader": "torchvision", "workers": workers, "images": len(data),
                      "images_per_second": round(best, 1)}))


if __name__ == "__main__":
    main()
