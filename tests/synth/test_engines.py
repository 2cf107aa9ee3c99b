"""The engines for real: HF transformers generation and a reward model on the session's tiny trained
Llama, the OpenAI-compatible client against a local HTTP server, vLLM on a GPU (gpu marker)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infir.synth.engines import EngineConfig, OpenAIGenerator, TransformersGenerator
from infir.synth.reward import RewardModel
from infir.synth.toy import make_toy_reward


def test_transformers_engine_samples_n_per_prompt_reproducibly(tiny_model):
    gen = TransformersGenerator(
        EngineConfig(model=str(tiny_model), max_new_tokens=12, temperature=0.9, chat=False)
    )
    prompts = ["The history of", "import os\n"]
    a = gen.generate(prompts, n=3, key=7)
    assert [len(x) for x in a] == [3, 3] and all(isinstance(s, str) for x in a for s in x)
    assert gen.generate(prompts, n=3, key=7) == a  # the same key: the same samples (a resumed shard)
    assert gen.generate(prompts, n=3, key=8) != a
    assert len(set(a[0])) > 1  # sampled, not three copies of one greedy answer


@pytest.fixture(scope="module")
def toy_reward(tiny_model, tmp_path_factory):
    return make_toy_reward(tiny_model, tmp_path_factory.mktemp("rm") / "reward")


def test_reward_scores_do_not_depend_on_the_batch(toy_reward):
    rm = RewardModel(EngineConfig(model=str(toy_reward), kind="reward", batch_size=4))
    pairs = [("What is 2+2?", "4"), ("Name a colour.", "A long answer: " + "blue and green " * 20),
             ("Hi", "Hello"), ("Sum 1..10", "55, by Gauss's pairing of terms")]  # fmt: skip
    batched = rm.score(pairs)
    alone = [rm.score([p])[0] for p in pairs]  # right padding must not move the score of a short pair
    assert batched == pytest.approx(alone, abs=1e-5)
    assert len(set(round(s, 6) for s in batched)) == 4  # a real head: different texts, different scores
    assert RewardModel(EngineConfig(model=str(toy_reward), kind="reward")).score(pairs) == pytest.approx(
        batched
    )


def test_reward_model_must_have_one_output(tiny_model, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from infir.config import ConfigError

    AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3).save_pretrained(
        tmp_path / "rm3"
    )
    with pytest.raises(ConfigError, match="num_labels 1"):
        RewardModel(EngineConfig(model=str(tmp_path / "rm3"), kind="reward"))


class _Server(BaseHTTPRequestHandler):
    bodies: list = []
    fail_first = [True]

    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).bodies.append((self.path, self.headers.get("Authorization"), body))
        if self.fail_first[0]:  # one overloaded answer first: the client must retry
            self.fail_first[0] = False
            self.send_response(503)
            self.end_headers()
            return
        prompt = body["messages"][0]["content"] if "messages" in body else body["prompt"]
        if "messages" in body:
            choices = [
                {"message": {"role": "assistant", "content": f"{prompt}#{i}"}} for i in range(body["n"])
            ]
            if prompt == "null":
                choices[0]["message"]["content"] = None  # some servers send null content
        else:
            choices = [{"text": f"{prompt}#{i}"} for i in range(body["n"])]
        raw = json.dumps({"choices": choices}).replace("SURR", "\\ud800")  # an escaped lone surrogate
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(raw.encode())

    def log_message(self, *args):
        pass


def test_openai_backend_against_a_local_server(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        monkeypatch.setenv("MY_KEY", "sk-test")
        cfg = EngineConfig(backend="openai", model="served", url=url, api_key_env="MY_KEY", seed=5, retries=2,
                           max_new_tokens=7, temperature=0.3)  # fmt: skip
        out = OpenAIGenerator(cfg).generate(["a", "null", "SURR"], n=2, key=10)
        assert out == [["a#0", "a#1"], ["", "null#1"], ["\ud800#0", "\ud800#1"]]
        path, auth, body = _Server.bodies[-1]
        assert path == "/v1/chat/completions" and auth == "Bearer sk-test"
        assert {k: body[k] for k in ("model", "n", "max_tokens", "temperature")} == {
            "model": "served", "n": 2, "max_tokens": 7, "temperature": 0.3}  # fmt: skip
        seeds = sorted(b["seed"] for p, _, b in _Server.bodies[-3:])
        assert seeds == [15, 16, 17]  # seed + key + position: reruns ask for the same samples
        plain = OpenAIGenerator(EngineConfig(backend="openai", model="m", url=url, chat=False)).generate(
            ["p"]
        )
        assert plain == [["p#0"]] and _Server.bodies[-1][0] == "/v1/completions"
        dead = EngineConfig(backend="openai", model="m", url="http://127.0.0.1:9/v1", retries=0, timeout_s=2)
        with pytest.raises(RuntimeError, match="127.0.0.1:9"):
            OpenAIGenerator(dead).generate(["x"])
    finally:
        server.shutdown()


@pytest.mark.gpu
def test_vllm_engine_generates_on_gpu(tiny_model):
    pytest.importorskip("vllm")
    from infir.synth.engines import VllmGenerator

    gen = VllmGenerator(EngineConfig(backend="vllm", model=str(tiny_model), chat=False, max_new_tokens=8))
    out = gen.generate(["The history of", "import os"], n=2, key=1)
    assert [len(x) for x in out] == [2, 2]
    assert gen.generate(["The history of", "import os"], n=2, key=1) == out
