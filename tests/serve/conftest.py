"""Fixtures for the service tests: a small real model saved with skops, a real uvicorn
server on a free loopback port (in a thread), and digits rendered as real pictures."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import numpy as np
import pytest
import uvicorn
from PIL import Image

from digitrec.artifact import SavedModel, save_model
from digitrec.imagespec import DIGITS
from digitrec.models.registry import build_classifier
from digitrec.params import FeaturizeParams, PreprocessParams, TrainParams
from digitrec.pipeline import assemble, build_featurizer, build_preprocessor
from digitrec.serve.app import create_app
from digitrec.serve.server import config
from digitrec.serve.settings import ServeSettings

N_TRAIN = 1500  # images 1500.. of sklearn's digits are never trained on

# Small limits, so every limit can be exceeded cheaply.
TEST_SETTINGS = ServeSettings(
    max_upload_bytes=1024 * 1024,
    max_pixels=1_000_000,
    max_request_pixels=2_000_000,
    max_batch=8,
    max_concurrency=2,
    access_log=False,
)


@pytest.fixture(scope="session")
def trained(digits):
    """A fitted default pipeline (pixels + HOG, calibrated SVC) on 1,500 digits."""
    images, labels = digits
    pre = build_preprocessor(DIGITS, PreprocessParams())
    feat = build_featurizer(FeaturizeParams(method="raw_hog", hog={"pixels_per_cell": 2}), 0)
    features = feat.fit_transform(pre.fit_transform(images[:N_TRAIN]))
    clf = build_classifier(TrainParams(), 0).fit(features, labels[:N_TRAIN])
    return assemble(pre, feat, clf)


@pytest.fixture(scope="session")
def saved_model(tmp_path_factory, trained) -> SavedModel:
    return save_model(tmp_path_factory.mktemp("models") / "model", trained)


class Server:
    """A uvicorn server in a thread, on a port the OS picked, configured as
    ``digitrec serve`` configures it (its connection limits and timeouts)."""

    def __init__(self, app, port: int = 0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = app
        settings = getattr(app.state, "settings", None) or TEST_SETTINGS
        self.server = uvicorn.Server(config(app, settings, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, args=([self.sock],), daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(scope="session")
def start_server() -> type[Server]:
    """``with start_server(app) as s:`` serves ``app`` at ``s.url`` until the block ends."""
    return Server


@pytest.fixture(scope="session")
def server(saved_model) -> Iterator[Server]:
    with Server(create_app(saved_model.path, TEST_SETTINGS)) as s:
        yield s


@pytest.fixture
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as c:
        yield c


def render(image: np.ndarray, fmt: str = "PNG", scale: int = 12, size=(140, 130)) -> bytes:
    """An 8x8 digit (0..16) as a dark-on-white picture, off centre, like a scan."""
    ink = np.kron(image / 16.0, np.ones((scale, scale)))
    canvas = np.full(size, 236.0)
    canvas[14 : 14 + ink.shape[0], 20 : 20 + ink.shape[1]] -= 220 * ink
    buf = io.BytesIO()
    Image.fromarray(canvas.astype(np.uint8)).save(buf, fmt)
    return buf.getvalue()


@pytest.fixture(scope="session")
def picture() -> Callable[..., bytes]:
    return render


@pytest.fixture(scope="session")
def held_out(digits) -> list[tuple[bytes, int]]:
    """Twenty digits the model never saw, as PNGs, with their labels."""
    images, labels = digits
    return [(render(images[i]), int(labels[i])) for i in range(1700, 1720)]
