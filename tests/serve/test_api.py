"""The HTTP API, through real requests to a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import sys
import threading
import zlib

import numpy as np
import pytest
from PIL import Image

from digitrec.predict import predict, prepare
from digitrec.transforms.imaging import load_image


def png_bytes(array: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, fmt)
    return buf.getvalue()


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit PNG of width x height black pixels: ~50 KB on disk, 400
    megapixels (and gigabytes as floats) once decoded: a decompression bomb."""
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    data = b"".join(z.compress(row) for _ in range(height)) + z.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def truncated_png() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (120, 120), dtype=np.uint8)
    data = png_bytes(noise)
    return data[: len(data) // 2]


def expected(model, data: bytes):
    """What `digitrec predict` computes for these bytes: load_image -> prepare -> predict."""
    raw = prepare(model, load_image(io.BytesIO(data)))
    return raw, predict(model, raw[None])[0]


def image_body(data: bytes, kind: str = "image/png") -> dict:
    return {"content": data, "headers": {"content-type": kind}}


def files(*items: tuple[str, bytes]) -> dict:
    return {"files": [("file", (name, data, "application/octet-stream")) for name, data in items]}


def assert_good_prediction(record: dict) -> None:
    probs = record["probabilities"]
    assert sorted(probs, key=int) == [str(d) for d in range(10)]
    assert sum(probs.values()) == pytest.approx(1, abs=1e-4)
    assert record["probability"] == pytest.approx(max(probs.values()), abs=1e-6)
    assert str(record["digit"]) == max(probs, key=probs.get)


# ------------------------------------------------------------------------ good input
def test_health(client, saved_model):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["model_sha256"] == saved_model.sha256
    assert body["image_shape"] == [8, 8]


def test_model_describes_the_loaded_artifact(client, saved_model):
    info = client.get("/model").json()
    assert info["model"]["sha256"] == saved_model.sha256
    assert info["model"]["format"] == "skops"
    assert info["model"]["size_bytes"] == saved_model.path.stat().st_size
    assert info["model"]["classes"] == list(range(10))
    assert info["model"]["image_spec"]["shape"] == [8, 8]
    assert info["model"]["steps"][0]["type"] == "digitrec.transforms.preprocessing.ImageScaler"
    # a model outside any DVC project: no provenance to report, and it says so
    assert info["versions"] == {"code": None, "data": None, "model_in_dvc_lock": None}


def test_one_png_per_request_matches_the_cli_path(client, held_out, trained):
    correct = 0
    for data, label in held_out:
        r = client.post("/predict", **image_body(data))
        assert r.status_code == 200, r.text
        [record] = r.json()["predictions"]
        assert_good_prediction(record)
        _, p = expected(trained, data)
        assert record["digit"] == p.label
        assert record["probabilities"] == {str(k): round(v, 6) for k, v in p.probabilities.items()}
        correct += record["digit"] == label
    assert correct >= 18


def test_several_images_in_one_multipart_request(client, held_out, saved_model):
    batch = held_out[:8]  # the batch limit
    r = client.post("/predict", **files(*((f"d{i}.png", d) for i, (d, _) in enumerate(batch))))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_sha256"] == saved_model.sha256
    assert [p["image"] for p in body["predictions"]] == [f"d{i}.png" for i in range(8)]
    for p in body["predictions"]:
        assert_good_prediction(p)
    assert (
        sum(p["digit"] == label for p, (_, label) in zip(body["predictions"], batch, strict=True))
        >= 7
    )


def test_jpeg_body_and_include_input(client, digits, picture, trained):
    images, labels = digits
    data = picture(images[1750], fmt="JPEG")
    r = client.post("/predict?include_input=true", **image_body(data, "image/jpeg"))
    assert r.status_code == 200, r.text
    [record] = r.json()["predictions"]
    raw, p = expected(trained, data)
    assert record["digit"] == p.label == labels[1750]
    assert np.array_equal(np.array(record["input"]), raw)  # the model's view, same function


def test_json_pixels(client, digits, trained):
    images, labels = digits
    chosen = images[1700:1706]
    r = client.post("/predict", json={"images": chosen.tolist(), "max_value": 16})
    assert r.status_code == 200, r.text
    predictions = r.json()["predictions"]
    assert [p["image"] for p in predictions] == [f"images[{i}]" for i in range(6)]
    for p, image in zip(predictions, chosen, strict=True):
        assert_good_prediction(p)
        grey = image / 16.0  # light on dark: normalize works either way
        assert p["digit"] == predict(trained, prepare(trained, grey)[None])[0].label
    assert (
        sum(p["digit"] == label for p, label in zip(predictions, labels[1700:1706], strict=True))
        >= 5
    )
    # grey levels in [0, 1] are the default, dark ink on white paper too
    dark_on_white = (1 - chosen[0] / 16.0).tolist()
    r = client.post("/predict", json={"images": [dark_on_white]})
    assert r.status_code == 200 and r.json()["predictions"][0]["digit"] == predictions[0]["digit"]


def test_openapi_describes_the_endpoints(client):
    spec = client.get("/openapi.json").json()
    assert {"/predict", "/health", "/model"} <= set(spec["paths"])
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "image/png", "image/jpeg", "application/json"} <= set(body)
    assert {"200", "400", "413", "415", "422"} <= set(
        spec["paths"]["/predict"]["post"]["responses"]
    )


def test_page_and_its_assets_are_served_locally(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert refs and all(ref.startswith(("/static/", "data:")) for ref in refs), refs
    for ref in refs:
        if ref.startswith("/static/"):
            asset = client.get(ref)
            assert asset.status_code == 200, ref
            assert "http://" not in asset.text and "https://" not in asset.text, ref
    assert (
        client.get("/static/draw.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )


# ------------------------------------------------------------------------- bad input
def noise_png(side: int) -> bytes:
    return png_bytes(np.random.default_rng(side).integers(0, 256, (side, side), dtype=np.uint8))


def three_mib():
    for _ in range(48):
        yield b"\x00" * 65536


BAD = {
    # name: (request kwargs, status, error code)
    "not an image": (image_body(b"this is not a picture at all"), 422, "not_an_image"),
    "not an image in a form": (files(("notes.png", b"hello")), 422, "not_an_image"),
    "truncated png": (image_body(truncated_png()), 422, "bad_image"),
    "empty body": (image_body(b""), 400, "empty_body"),
    "empty json body": (image_body(b"", "application/json"), 400, "empty_body"),
    "empty file in a form": (files(("empty.png", b"")), 400, "empty_image"),
    "url-encoded form": ({"data": {"note": "hi"}}, 415, "unsupported_media_type"),
    "multipart without files": (
        {
            "content": b'--xx\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xx--\r\n',
            "headers": {"content-type": "multipart/form-data; boundary=xx"},
        },
        400,
        "no_images",
    ),
    "multipart without boundary": (
        image_body(b"--xx\r\n\r\n", "multipart/form-data"),
        400,
        "bad_multipart",
    ),
    "20000x20000 decompression bomb": (image_body(png_bomb()), 413, "image_too_large"),
    "more pixels than max_pixels": (image_body(noise_png(1001)), 413, "image_too_large"),
    "huge upload": (image_body(b"\x89PNG" + bytes(3 * 1024 * 1024)), 413, "upload_too_large"),
    "huge upload without length": (
        {"content": three_mib(), "headers": {"content-type": "image/png"}},
        413,
        "upload_too_large",
    ),
    "text/plain": (image_body(b"7", "text/plain"), 415, "unsupported_media_type"),
    "a large text/plain body": (
        image_body(bytes(2 * 1024 * 1024), "text/plain"),
        415,
        "unsupported_media_type",
    ),
    "no content type": ({"content": noise_png(20)}, 415, "unsupported_media_type"),
    "image/gif body": (image_body(b"GIF89a", "image/gif"), 415, "unsupported_media_type"),
    "gif in a form": (
        files(("d.gif", png_bytes(np.zeros((8, 8), np.uint8), "GIF"))),
        415,
        "unsupported_format",
    ),
    "NaN pixels": (
        image_body(b'{"images": [[[0, 1], [NaN, 0]]]}', "application/json"),
        422,
        "bad_pixels",
    ),
    "infinite pixels": (
        image_body(b'{"images": [[[0, Infinity], [1, 0]]]}', "application/json"),
        422,
        "bad_pixels",
    ),
    "null pixels": ({"json": {"images": [[[0, None], [1, 0]]]}}, 422, "bad_pixels"),
    "negative pixels": ({"json": {"images": [[[0, -0.5], [1, 0]]]}}, 422, "bad_pixels"),
    "pixels above max_value": (
        {"json": {"images": [[[0, 17], [16, 0]]], "max_value": 16}},
        422,
        "bad_pixels",
    ),
    "ragged rows": ({"json": {"images": [[[0, 1], [1]]]}}, 422, "bad_pixels"),
    "strings as pixels": ({"json": {"images": [[["a", "b"]]]}}, 422, "bad_pixels"),
    "a 3-D image": ({"json": {"images": [[[[0, 1]]]]}}, 422, "bad_pixels"),
    "bad max_value": ({"json": {"images": [[[0, 1]]], "max_value": 0}}, 422, "bad_pixels"),
    "no images key": ({"json": {"pixels": [[0, 1]]}}, 422, "bad_pixels"),
    "empty images list": ({"json": {"images": []}}, 400, "no_images"),
    "malformed json": (image_body(b'{"images": [[[0, 1]', "application/json"), 400, "bad_json"),
    "deeply nested json": (image_body(b"[" * 100_000, "application/json"), 400, "bad_json"),
    "too many images in a form": (
        files(*((f"{i}.png", b"x") for i in range(9))),
        413,
        "too_many_images",
    ),
    "too many images as json": (
        {"json": {"images": [[[0, 1], [1, 0]]] * 9}},
        413,
        "too_many_images",
    ),
    "blank picture": (image_body(png_bytes(np.full((50, 50), 255, np.uint8))), 422, "no_digit"),
    "bad query parameter": (
        {"url": "/predict?include_input=maybe", "json": {"images": [[[0, 1]]]}},
        422,
        "invalid_request",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_4xx_json_error_and_the_service_goes_on(client, held_out, case):
    kwargs, status, code = BAD[case]
    kwargs = dict(kwargs)
    url = kwargs.pop("url", "/predict")
    if case == "huge upload without length":
        kwargs["content"] = three_mib()  # a generator is consumed by one request
    r = client.post(url, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["error"] == code, body
    assert len(body["detail"]) > 10, body
    # and the next good request is served
    data, label = held_out[0]
    good = client.post("/predict", **image_body(data))
    assert good.status_code == 200 and good.json()["predictions"][0]["digit"] == label


def test_error_messages_name_the_problem(client):
    r = client.post("/predict", **files(("ok.png", noise_png(20)), ("notes.txt", b"hello")))
    assert r.status_code == 422 and r.json()["detail"].startswith("notes.txt: not an image")
    r = client.post("/predict", json={"images": [[[0, 1]], [[0, 2]]]})
    assert r.json()["detail"] == "images[1]: pixel values must lie in [0, 1], got values in [0, 2]"
    r = client.post("/predict", **image_body(noise_png(1001)))
    assert "1001x1001" in r.json()["detail"] and "1000000" in r.json()["detail"]
    r = client.post("/predict", **image_body(b"\x89PNG" + bytes(3 * 1024 * 1024)))
    assert "1048576 bytes" in r.json()["detail"]


def test_unknown_routes_and_methods_are_json_errors(client):
    r = client.get("/nowhere")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.get("/predict")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    assert client.get("/docs").status_code == 404  # Swagger UI would load a CDN: not served


def test_concurrent_good_and_bad_requests(server, held_out):
    import httpx

    results: list[tuple[str, int]] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            for i in range(6):
                data, _ = held_out[(k * 6 + i) % len(held_out)]
                bad = (k + i) % 3 == 0
                r = c.post("/predict", **image_body(b"junk" if bad else data))
                with lock:
                    results.append(("bad" if bad else "good", r.status_code))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 36
    assert all(code == (422 if kind == "bad" else 200) for kind, code in results), results


def test_response_is_plain_json(client, held_out):
    r = client.post("/predict", **image_body(held_out[0][0]))
    assert json.loads(r.content) == r.json()


def test_the_app_compiles_the_image_kernels_before_serving(saved_model):
    # in a fresh process: no request has run, yet HOG (which the model uses) is ready
    code = (
        "import sys; from digitrec.serve.app import create_app; create_app(sys.argv[1]); "
        "from digitrec.kernels import _compiled; print(len(_compiled._hog_into.signatures))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(saved_model.path)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "1"
