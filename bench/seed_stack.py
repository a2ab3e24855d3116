#!/usr/bin/env python3
"""The seed's own stack, for `npm run bench` to run side by side with ours.

Written from the seed's description: PIL, torchvision transforms
Resize(256) -> CenterCrop(224) -> ToTensor -> Normalize(ImageNet), a
torchvision ResNet-18 in eval mode under torch.no_grad(), softmax top-3,
2 threads; and its Flask request path (POST /predict, multipart "file").

  seed_stack.py stages  --weights W --runs N IMAGE...   per-stage timings (JSON on stdout)
  seed_stack.py batch   --weights W --runs N IMAGE      batch throughput (JSON)
  seed_stack.py serve   --weights W --port P            the Flask app, until killed
"""
import argparse
import io
import json
import statistics
import sys
import time

import torch
import torchvision
from PIL import Image, ImageOps
from torchvision import transforms as T

torch.set_num_threads(2)
TRANSFORM = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])


def load_model(weights):
    model = torchvision.models.resnet18()
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    return model.eval()


def open_rgb(data):
    return ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")


def predict(model, data):
    img = open_rgb(data)
    x = TRANSFORM(img)[None]
    with torch.no_grad():
        logits = model(x)
    p = torch.softmax(logits[0], 0)
    top = torch.topk(p, 3)
    return [{"label": int(i), "confidence": round(float(s) * 100, 2)} for s, i in zip(top.values, top.indices)]


def quantiles(values):
    s = sorted(values)
    return {"median": statistics.median(s), "p90": s[min(len(s) - 1, int(0.9 * len(s)))], "runs": len(s)}


def stages(model, paths, runs, warmup=3):
    out = []
    for path in paths:
        data = open(path, "rb").read()
        t = {"decode": [], "preprocess": [], "infer": [], "postprocess": [], "total": []}
        for i in range(warmup + runs):
            t0 = time.perf_counter()
            img = open_rgb(data)
            t1 = time.perf_counter()
            x = TRANSFORM(img)[None]
            t2 = time.perf_counter()
            with torch.no_grad():
                logits = model(x)
            t3 = time.perf_counter()
            torch.topk(torch.softmax(logits[0], 0), 3)
            t4 = time.perf_counter()
            if i < warmup:
                continue
            for k, v in zip(t, [t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0]):
                t[k].append(v * 1000)
        out.append({"image": path, **{k: quantiles(v) for k, v in t.items()}})
    return out


def batch(model, path, runs, size=32):
    data = open(path, "rb").read()
    times = []
    for i in range(2 + runs):
        t0 = time.perf_counter()
        x = torch.stack([TRANSFORM(open_rgb(data)) for _ in range(size)])
        with torch.no_grad():
            model(x)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"batch": size, "median_ms": med * 1000, "images_per_s": size / med}


def serve(model, port):
    from flask import Flask, jsonify, request

    app = Flask(__name__)

    @app.route("/predict", methods=["POST"])
    def predict_route():
        if "file" not in request.files:
            return jsonify({"error": "No file uploaded"}), 400
        return jsonify(predict(model, request.files["file"].read()))

    @app.route("/health")
    def health():
        return "ok"

    print(f"listening {port}", flush=True)
    app.run(host="127.0.0.1", port=port, threaded=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["stages", "batch", "serve"])
    ap.add_argument("--weights", required=True)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--port", type=int, default=5055)
    ap.add_argument("images", nargs="*")
    args = ap.parse_intermixed_args()
    model = load_model(args.weights)
    if args.command == "serve":
        serve(model, args.port)
        return
    result = stages(model, args.images, args.runs) if args.command == "stages" else batch(model, args.images[0], max(3, args.runs // 6))
    json.dump({"torch": torch.__version__, "torchvision": torchvision.__version__, "threads": torch.get_num_threads(), "result": result}, sys.stdout)


if __name__ == "__main__":
    main()
