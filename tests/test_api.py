"""The REST API (qa/web/api.py) and access control (qa/web/access.py): a real server, started
as ``qa serve`` starts it (``launch`` with the API, the chat's users and API keys), asked over
HTTP; the curl examples of docs/api.md run against it."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import stat
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

from qa import Assistant
from qa.errors import CorruptIndexError, StoreError, UsageError
from qa.web import access
from qa.web.access import ApiKeys, Limits, TokenBuckets, Users, check_exposure
from qa.web.api import AnswerOut, RestApi, error_response, public
from qa.web.callbacks import MAX_UPLOAD_BYTES
from qa.web.layout import build
from qa.web.server import launch

from .conftest import ROOT

PASSWORD = "correct horse battery"
QUESTION = "Who announced that China would set up CNISCO?"
KEYS = {"reader": "read", "writer": "write", "burst": "read", "bulk": "write", "docs": "write"}
# Room for the module's own calls; the slot and rate tests use keys of their own.
LIMITS = Limits(ask_burst=30, upload_burst=10, uploads_per_minute=60, concurrent_uploads=1)


@pytest.fixture(scope="module")
def credentials(tmp_path_factory) -> tuple[Users, ApiKeys, dict[str, str]]:
    folder = tmp_path_factory.mktemp("access")
    users = Users(folder / "users", must_exist=False)
    users.add("alice", PASSWORD)
    keys = ApiKeys(folder / "keys", must_exist=False)
    return users, keys, {name: keys.add(name, role) for name, role in KEYS.items()}


@pytest.fixture(scope="module")
def served(seeds_assistant, credentials, tmp_path_factory):
    """The session's seeds corpus and index, copied (uploads and removals change the copy
    only; nothing is embedded again), served with the chat's sign-in and API keys."""
    folder = tmp_path_factory.mktemp("api") / "corpus"
    shutil.copytree(seeds_assistant.folder, folder)
    assistant = Assistant.from_folder(folder, embedder=seeds_assistant.embedder)
    users, keys, _ = credentials
    demo = build(assistant)
    api = RestApi(assistant, keys, LIMITS)
    url = launch(demo, "127.0.0.1", block=False, api=api, users=users)
    yield url.rstrip("/"), assistant
    demo.close()


@pytest.fixture(scope="module")
def http(served) -> httpx.Client:
    with httpx.Client(base_url=served[0], timeout=120) as client:
        yield client


def auth(credentials, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credentials[2][name]}"}


def error_of(response: httpx.Response, status: int) -> str:
    """The error message of a JSON error answer with ``status``, which says nothing of the
    server's insides: no traceback, no absolute path."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"], body
    assert "Traceback" not in body["error"]
    assert not re.search(r"/(tmp|root|home|work|srv|usr|var)/", body["error"]), body["error"]
    return body["error"]


# ----- the routes -------------------------------------------------------------------------


def test_health_needs_no_key_and_counts_the_index(http, served):
    body = http.get("/api/health").json()
    assert body["ok"] is True and body["documents"] == 2 and body["passages"] > 10
    assert body["generation"].startswith("gen-") and body["store"] == "faiss"
    assert str(served[1].folder) not in json.dumps(body)


def test_ask_answers_as_python_does_with_a_citable_span(http, credentials, served):
    response = http.post(
        "/api/ask", json={"question": QUESTION}, headers=auth(credentials, "reader")
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == set(AnswerOut.model_fields)
    top = answer["extracts"][0]
    assert "Xi Jinping" in top["text"] and answer["abstained"] is False
    document = http.get(f"/api/documents/{top['doc_id']}", headers=auth(credentials, "reader"))
    assert document.json()["text"][top["start"] : top["end"]] == top["text"]
    direct = served[1].ask(QUESTION).to_dict()
    assert set(direct) == set(answer)  # the typed model is Answer.to_dict(), field for field


def test_ask_takes_history_and_k(http, credentials):
    response = http.post(
        "/api/ask",
        json={
            "question": "And when was it signed?",
            "history": ["Where was the road transport agreement signed?"],
            "k": 1,
        },
        headers=auth(credentials, "reader"),
    )
    answer = response.json()
    assert "September 2014" in answer["extracts"][0]["text"] and len(answer["extracts"]) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"question": ""}, "The question is empty"),
        ({"question": "  \x00 "}, "The question is empty"),
        ({"question": "why " * 600}, "The question is too long"),
        ({"question": QUESTION, "k": 11}, "k: Input should be less than or equal to 10"),
        ({"question": QUESTION, "k": 0}, "k: Input should be greater than or equal to 1"),
        ({"question": 42}, "question: Input should be a valid string"),
        ({"question": QUESTION, "history": "earlier"}, "history: Input should be a valid list"),
        ({}, "question: Field required"),
    ],
)
def test_a_bad_question_is_400_in_qas_words(http, credentials, body, expected):
    response = http.post("/api/ask", json=body, headers=auth(credentials, "reader"))
    assert expected in error_of(response, 400)


def test_a_body_that_is_not_json_is_400(http, credentials):
    headers = {**auth(credentials, "reader"), "Content-Type": "application/json"}
    assert "Bad request" in error_of(http.post("/api/ask", content=b"{no", headers=headers), 400)


def test_documents_are_listed_and_shown_with_their_metadata(http, credentials, served):
    listed = http.get("/api/documents", headers=auth(credentials, "reader")).json()
    assert sorted(d["id"] for d in listed) == sorted(served[1].documents)
    first = listed[0]
    assert set(first) == {"id", "title", "file_name", "format", "size", "passages", "indexed"}
    assert first["format"] == "txt" and first["size"] > 0 and first["passages"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", first["indexed"])
    shown = http.get(f"/api/documents/{first['id']}", headers=auth(credentials, "reader")).json()
    assert shown["text"] == served[1].document(first["id"]).text
    assert {"kind", "sha256", "pages", "locations"} <= set(shown)


@pytest.mark.parametrize(
    "doc_id", ["nothing.txt", "..%2F..%2Fseeds%2F000_0b88324673b57412.txt", "%2e%2e"]
)
def test_an_unknown_document_is_404(http, credentials, doc_id):
    response = http.get(f"/api/documents/{doc_id}", headers=auth(credentials, "reader"))
    assert "No document" in error_of(response, 404)


def test_an_unknown_api_route_is_a_json_404(http, credentials):
    assert "No API route" in error_of(
        http.get("/api/nope", headers=auth(credentials, "reader")), 404
    )


def test_upload_indexes_refuses_and_removal_moves_to_the_trash(http, credentials, served, tmp_path):
    assistant = served[1]
    writer = auth(credentials, "writer")
    text = b"Sea otters hold hands while they sleep so that they do not drift apart."
    files = {"file": ("../../otters.txt", text, "text/plain")}
    added = http.post("/api/documents", files=files, headers=writer)
    assert added.status_code == 201, added.text
    assert added.json()["added"] is True and added.json()["document"]["id"] == "otters.txt"
    assert (assistant.folder / "otters.txt").read_bytes() == text  # the name made plain
    answer = http.post("/api/ask", json={"question": "Why do sea otters hold hands?"},
                       headers=writer).json()  # fmt: skip
    assert answer["extracts"][0]["doc_id"] == "otters.txt"

    again = http.post("/api/documents", files={"file": ("copy.txt", text)}, headers=writer)
    assert again.status_code == 200 and again.json()["duplicate_of"] == "otters.txt"
    assert not (assistant.folder / "copy.txt").exists()

    exe = http.post("/api/documents", files={"file": ("tool.exe", b"MZ")}, headers=writer)
    assert "not a supported type" in error_of(exe, 415)
    broken = http.post("/api/documents", files={"file": ("broken.pdf", b"%PDF-1.4 no")},
                       headers=writer)  # fmt: skip
    assert "Nothing was changed" in error_of(broken, 400)
    assert not (assistant.folder / "broken.pdf").exists()

    removed = http.delete("/api/documents/otters.txt", headers=writer)
    assert removed.status_code == 200, removed.text
    assert removed.json()["trash"] == ".qa-trash/otters.txt"
    assert "otters.txt" not in assistant.documents
    assert (assistant.folder / ".qa-trash" / "otters.txt").exists()
    assert "No document" in error_of(http.delete("/api/documents/otters.txt", headers=writer), 404)
    gone = http.get("/api/documents/otters.txt", headers=writer)
    assert "No document" in error_of(gone, 404)


def test_removing_a_document_whose_file_went_meanwhile_is_409(http, credentials, served):
    assistant, writer = served[1], auth(credentials, "writer")
    files = {"file": ("beavers.md", b"# Beavers\n\nBeavers build dams from branches and mud.")}
    assert http.post("/api/documents", files=files, headers=writer).status_code == 201
    (assistant.folder / "beavers.md").rename(assistant.folder.parent / "beavers.md")
    try:
        conflict = http.delete("/api/documents/beavers.md", headers=writer)
        assert "changed meanwhile" in error_of(conflict, 409)
    finally:
        assistant.refresh()
    assert "beavers.md" not in assistant.documents


# ----- keys and sign-in -------------------------------------------------------------------


def test_the_api_needs_a_valid_key(http):
    bare = http.get("/api/documents")
    assert "needs a key" in error_of(bare, 401)
    assert bare.headers["www-authenticate"] == "Bearer"
    wrong = http.get("/api/documents", headers={"Authorization": "Bearer qa_not-a-key"})
    assert "not valid" in error_of(wrong, 401)
    basic = http.post("/api/ask", json={"question": QUESTION}, headers={"Authorization": "Basic x"})
    error_of(basic, 401)


def test_a_read_key_cannot_upload_or_remove(http, credentials, served):
    reader = auth(credentials, "reader")
    files = {"file": ("notes.txt", b"Read keys only read.")}
    assert "write key" in error_of(http.post("/api/documents", files=files, headers=reader), 403)
    doc_id = sorted(served[1].documents)[0]
    assert "write key" in error_of(http.delete(f"/api/documents/{doc_id}", headers=reader), 403)
    assert doc_id in served[1].documents


def test_the_chat_and_its_ask_endpoint_need_a_sign_in(served):
    url = served[0]
    answer = Client(url, auth=("alice", PASSWORD), verbose=False).predict(QUESTION, api_name="/ask")
    assert "Xi Jinping" in answer["extracts"][0]["text"]
    with pytest.raises(Exception):  # noqa: B017 (gradio_client's error for a refused login)
        Client(url, auth=("alice", "wrong password"), verbose=False)
    assert httpx.get(f"{url}/config").status_code == 401


def test_keys_and_passwords_are_stored_hashed_and_never_logged(credentials, http, caplog):
    users, keys, issued = credentials
    with caplog.at_level(logging.DEBUG):
        http.get("/api/documents", headers={"Authorization": f"Bearer {issued['reader']}x"})
        http.get("/api/documents", headers=auth(credentials, "reader"))
    stored = users.path.read_text() + keys.path.read_text()
    for secret in [PASSWORD, *issued.values()]:
        assert secret not in stored and secret not in caplog.text
    assert stat.S_IMODE(os.stat(users.path).st_mode) == 0o600
    assert users.check("alice", PASSWORD)
    assert not users.check("alice", "correct horse") and not users.check("bob", PASSWORD)
    assert keys.lookup(issued["writer"]).role == "write" and keys.lookup("qa_other") is None


def test_the_access_command_adds_users_and_keys(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(access.getpass, "getpass", lambda prompt="": "a long password")
    assert access.main(["add-user", str(tmp_path / "users"), "carol"]) == 0
    assert Users(tmp_path / "users").check("carol", "a long password")
    assert access.main(["add-key", str(tmp_path / "keys"), "ci", "--role", "write"]) == 0
    key = next(w for w in capsys.readouterr().out.split() if w.startswith("qa_"))
    assert ApiKeys(tmp_path / "keys").lookup(key).role == "write"
    assert access.main(["list", str(tmp_path / "keys")]) == 0
    assert capsys.readouterr().out.strip() == "ci write"
    assert access.main(["remove", str(tmp_path / "keys"), "ci"]) == 0
    assert ApiKeys(tmp_path / "keys").lookup(key) is None  # read again: it changed
    monkeypatch.setattr(access.getpass, "getpass", lambda prompt="": "short")
    assert access.main(["add-user", str(tmp_path / "users"), "dave"]) == 2


# ----- exposure ---------------------------------------------------------------------------


def test_serving_beyond_loopback_needs_auth_or_an_explicit_risk():
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        assert check_exposure(host, authenticated=False, insecure=False) is None
    for host in ("0.0.0.0", "::", "192.168.1.20", "example.org"):
        with pytest.raises(UsageError, match="--insecure-no-auth"):
            check_exposure(host, authenticated=False, insecure=False)
        assert check_exposure(host, authenticated=True, insecure=False) is None
        assert "WARNING" in check_exposure(host, authenticated=False, insecure=True)


def test_launch_and_qa_serve_refuse_an_open_public_host_before_binding(tmp_path, capsys):
    import gradio as gr

    from qa.cli import main

    with pytest.raises(UsageError, match="Refusing to serve 0.0.0.0"):
        launch(gr.Blocks(), "0.0.0.0", block=False)
    # Refused before the folder is even read (it does not exist).
    assert main(["serve", "--host", "0.0.0.0", "--folder", str(tmp_path / "none")]) == 2
    assert "--insecure-no-auth" in capsys.readouterr().err
    assert main(["serve", "--host", "0.0.0.0", "--auth", str(tmp_path / "missing")]) == 2
    assert "No such file: missing" in capsys.readouterr().err


# ----- limits -----------------------------------------------------------------------------


def test_asking_too_often_is_429_with_retry_after(http, credentials):
    statuses = []
    for _ in range(LIMITS.ask_burst + 5):
        response = http.post("/api/ask", json={"question": ""}, headers=auth(credentials, "burst"))
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert "Too many questions from key burst" in error_of(response, 429)
            assert int(response.headers["retry-after"]) >= 1
            break
    assert statuses[: LIMITS.ask_burst] == [400] * LIMITS.ask_burst and statuses[-1] == 429
    # Another key's bucket is its own.
    ok = http.post("/api/ask", json={"question": ""}, headers=auth(credentials, "reader"))
    assert ok.status_code == 400


def test_token_buckets_refill_at_their_rate():
    now = [0.0]
    buckets = TokenBuckets(per_minute=60, burst=2, clock=lambda: now[0])
    assert buckets.take("a") == 0 and buckets.take("a") == 0
    assert buckets.take("a") == pytest.approx(1.0) and buckets.take("b") == 0
    now[0] = 1.0
    assert buckets.take("a") == 0 and buckets.take("a") > 0


def test_limits_have_defaults_in_one_place_and_can_be_changed():
    assert Limits.parse(None) == Limits() and Limits().max_upload_bytes == MAX_UPLOAD_BYTES
    changed = Limits.parse("asks_per_minute=120,ask_burst=20")
    assert (changed.asks_per_minute, changed.ask_burst, changed.upload_burst) == (120.0, 20, 3)
    with pytest.raises(UsageError, match="no asks; the limits: asks_per_minute"):
        Limits.parse("asks=1")
    with pytest.raises(UsageError, match="--limits"):
        Limits.parse("ask_burst=many")


@pytest.mark.parametrize(
    ("open_access", "keys", "expected"),
    [(True, None, 200), (False, None, 401)],
    ids=["open-on-loopback", "users-but-no-keys"],
)
def test_without_keys_the_api_is_open_only_when_nothing_is_configured(open_access, keys, expected):
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    app = Starlette(routes=[Route("/api/documents", lambda r: JSONResponse({}), methods=["POST"])])
    gate = access.Gate(app, keys=keys, open_access=open_access, limits=Limits())
    with TestClient(gate) as client:
        response = client.post("/api/documents")
        assert response.status_code == expected
        if expected == 401:
            assert "started without --api-keys" in response.json()["error"]
        assert client.get("/elsewhere").status_code == 404  # not the gate's: passed on


def test_an_upload_over_the_cap_is_413(http, credentials):
    writer = auth(credentials, "bulk")
    huge = b"a" * (MAX_UPLOAD_BYTES + LIMITS.multipart_slack + 1)
    # Refused from its Content-Length, before the body is read.
    response = http.post("/api/documents", files={"file": ("huge.txt", huge)}, headers=writer)
    assert "21,037,056-byte limit" in error_of(response, 413)
    # Just over the file's cap: the request fits, the file does not.
    over = b"a" * (MAX_UPLOAD_BYTES + 1)
    response = http.post("/api/documents", files={"file": ("over.txt", over)}, headers=writer)
    assert "20,971,520-byte limit" in error_of(response, 413)


def test_a_json_body_over_the_cap_is_413_while_it_arrives(http, credentials):
    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"question": "'
        for _ in range(LIMITS.max_json_bytes // 1000 + 2):
            yield b"x" * 1000
        yield b'"}'

    headers = {**auth(credentials, "reader"), "Content-Type": "application/json"}
    response = http.post("/api/ask", content=chunks(), headers=headers)
    assert "65,536-byte limit" in error_of(response, 413)


def test_uploads_at_once_are_capped(http, credentials, served):
    """While one upload is arriving (its body held back), another is 429."""
    release = threading.Event()
    boundary = "qa-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    text = b"Slow lorises move slowly through the forest canopy at night."

    def body():
        yield head
        release.wait(30)
        yield text + tail

    headers = {
        **auth(credentials, "writer"),
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + len(text) + len(tail)),
    }
    result = {}
    thread = threading.Thread(target=lambda: result.update(
        slow=http.post("/api/documents", content=body(), headers=headers)))  # fmt: skip
    thread.start()
    try:
        refused = None
        deadline = time.monotonic() + 20
        while refused is None and time.monotonic() < deadline:
            other = httpx.post(f"{served[0]}/api/documents", files={"file": ("x.exe", b"x")},
                               headers=auth(credentials, "bulk"))  # fmt: skip
            refused = other if other.status_code == 429 else time.sleep(0.05)
        assert refused is not None and "1 upload at a time" in error_of(refused, 429)
    finally:
        release.set()
        thread.join(60)
    assert result["slow"].status_code == 201, result["slow"].text
    served[1].trash_document("slow.txt")
    served[1].refresh()


# ----- errors, OpenAPI and the documented examples ----------------------------------------


def test_errors_are_mapped_and_say_nothing_of_the_server(caplog):
    assert error_response(CorruptIndexError("the index is missing")).status_code == 503
    assert error_response(StoreError("Milvus at x:19530 is unreachable")).status_code == 503
    with caplog.at_level(logging.ERROR):
        response = error_response(RuntimeError("/srv/secret/path broke"), "POST /api/ask")
    assert response.status_code == 500 and b"/srv" not in response.body
    assert "/srv/secret/path broke" in caplog.text  # the detail is logged
    assert public("/srv/x/notes.txt: unreadable") == "notes.txt: unreadable"
    corpus = Path("/srv/my corpus")
    assert public(f"{corpus}/a b/c.txt: unreadable", (corpus,)) == "a b/c.txt: unreadable"
    assert public(f"Not a folder: {corpus}", (corpus,)) == "Not a folder: my corpus"
    assert public("a text/plain file at C:/x, see docs/api.md") == (
        "a text/plain file at C:/x, see docs/api.md"
    )


def test_the_openapi_document_describes_the_api(http):
    spec = http.get("/openapi.json").json()
    assert {"/api/ask", "/api/documents", "/api/documents/{doc_id}", "/api/health"} <= set(
        spec["paths"]
    )
    assert not [path for path in spec["paths"] if not path.startswith("/api/")]  # Gradio's not
    assert set(spec["paths"]["/api/documents/{doc_id}"]) == {"get", "delete"}
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert "AnswerOut" in spec["components"]["schemas"]
    ask = spec["paths"]["/api/ask"]["post"]["responses"]
    assert {"200", "400", "401", "429"} <= set(ask)
    try:
        from openapi_spec_validator import validate
    except ImportError:  # not installed here: the structure above is what is checked
        pass
    else:
        validate(spec)
    page = http.get("/docs")
    assert page.status_code == 200 and "/openapi.json" in page.text


def doc_examples() -> list[str]:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_the_curl_examples_of_docs_api_md_work(served, credentials, tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    examples = doc_examples()
    assert len(examples) >= 7
    env = {**os.environ, "QA_KEY": credentials[2]["docs"]}
    outputs = []
    for example in examples:
        command = example.replace("http://127.0.0.1:7860", served[0])
        run = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=120)  # fmt: skip
        assert run.returncode == 0, (example, run.stderr)
        outputs.append((example, json.loads(run.stdout)))
    found = {}
    for example, output in outputs:
        if "/api/health" in example:
            found["health"] = output["ok"]
        elif "history" in example:
            found["follow-up"] = "September 2014" in output["extracts"][0]["text"]
        elif "/api/ask" in example:
            found["ask"] = "Dushanbe" in output["extracts"][0]["text"]
        elif "-F" in example:
            found["upload"] = output["added"] and output["document"]["id"] == "otters.md"
        elif "DELETE" in example:
            found["delete"] = output["removed"] == "otters.md"
        elif "no-such" in example:
            found["404"] = output["error"].startswith("No document")
        elif example.rstrip().endswith("/api/documents"):
            found["list"] = len(output) == 2
        else:
            found["show"] = bool(output["text"]) and len(output["sha256"]) == 64
    assert found == dict.fromkeys(
        ["health", "ask", "follow-up", "list", "show", "upload", "delete", "404"], True
    ), found
