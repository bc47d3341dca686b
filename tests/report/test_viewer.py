"""`pr2 view`: one self-contained HTML file from pr2's run folders, its data escaped; and, where a Chromium is
installed (CI installs Debian's), the page opened offline in a real headless browser."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pr2.agent.trajectory import Segment, Trajectory
from pr2.baselines.methods import BaselineOutput
from pr2.cli import app
from pr2.data.io import write_json_atomic, write_questions
from pr2.data.schema import Aspect, ProfileItem, Question
from pr2.judge import JudgeConfig, build_judge
from pr2.judge.scoring import score_questions
from pr2.report.viewer import build_payload, render

runner = CliRunner()
EVIL = "</script><script>window.PWNED=1</script></div><b>bold</b>"


def make_runs(root: Path, n: int = 6) -> tuple[Path, Path]:
    """A demo-like folder: a PR² run (trajectories) and a RAG run (outputs), both scored with the fact judge."""
    questions = []
    for i in range(n):
        posts = [
            ProfileItem(f"u{i}-diet", f"Three years on a vegan diet. {EVIL}"),
            ProfileItem(f"u{i}-x", "Lost my umbrella."),
        ]
        fact = {"phrases": ["vegan"], "post": f"u{i}-diet", "facet": "diet"}
        questions.append(Question(f"u{i}", f"What should I cook, {i}?", "", posts, [Aspect("Fits their diet", "", "vegan", extra={"fact": fact})],
                                  category="Lifestyle_and_Personal_Development"))  # fmt: skip
    write_questions(root / "questions.jsonl", questions)
    judge = build_judge(JudgeConfig(mode="fact"))
    pr2_dir, rag_dir = root / "pr2-trained", root / "rag"
    pr2_dir.mkdir(parents=True)
    rag_dir.mkdir(parents=True)
    lines, answers = [], {}
    for i, q in enumerate(questions):
        t = Trajectory(q.id, [1])
        searched = i % 2 == 0
        t.segments = [Segment("model", "<think>diet?</think><search>diet</search>", [2])]
        if searched:
            t.segments.append(
                Segment("information", f"\n<information>\n[1] {q.profile[0].text}\n</information>\n", [3])
            )
            t.searches, t.retrieved_ids = ["diet"], [[q.profile[0].id]]
        t.answer = "A vegan stew." if searched else f"Anything {EVIL}"
        t.segments.append(Segment("model", f"<answer>{t.answer}</answer>", [4]))
        t.ended = "answer" if searched else "length"
        lines.append(json.dumps(t.to_record()))
        answers[q.id] = t.answer
    (pr2_dir / "trajectories.jsonl").write_text("\n".join(lines) + "\n")
    write_json_atomic(pr2_dir / "scores.json", score_questions(questions, answers, judge).to_record())
    outputs = [BaselineOutput(q.id, "Cook pasta.", "rag", [q.profile[1].id], ended="answer") for q in questions]
    (rag_dir / "outputs.jsonl").write_text("".join(json.dumps(o.to_record()) + "\n" for o in outputs))
    rag_answers = {o.id: o.answer for o in outputs}
    write_json_atomic(rag_dir / "scores.json", score_questions(questions, rag_answers, judge).to_record())
    return root, root / "questions.jsonl"


def test_payload_holds_every_run_side_by_side_with_scores_and_reasons(tmp_path):
    root, _ = make_runs(tmp_path / "demo")
    payload = build_payload([root])
    assert [r["name"] for r in payload["runs"]] == ["RAG", "PR² trained"]  # the demo's order and names
    pr2 = payload["runs"][1]["items"]["u0"]
    assert pr2["searches"] == ["diet"] and pr2["retrieved"][0]["posts"][0]["id"] == "u0-diet"
    assert pr2["score"] == 1.0 and "states 'vegan'" in pr2["details"][0]["rationale"]
    assert [s["kind"] for s in pr2["segments"]] == ["model", "information", "model"]
    rag = payload["runs"][0]["items"]["u0"]
    assert rag["retrieved"][0]["posts"][0]["text"] == "Lost my umbrella."  # post text from the questions file
    assert payload["questions"]["u0"]["profile_size"] == 2


def test_untrusted_text_cannot_leave_the_data_element(tmp_path):
    root, _ = make_runs(tmp_path / "demo")
    html = render(build_payload([root]))
    data = html.split('<script id="pr2-data" type="application/json">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and "\\u003c/script>" in data  # every < of the data is escaped
    assert json.loads(data)["runs"][1]["items"]["u1"]["answer"].endswith(EVIL)
    assert "window.PWNED" not in html.replace(data, "")


def test_cli_writes_one_file_and_refuses_a_folder_without_runs(tmp_path):
    root, _ = make_runs(tmp_path / "demo")
    result = runner.invoke(app, ["view", str(root), "--output", str(tmp_path / "v.html")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "v.html").read_text().startswith("<!doctype html>")
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["view", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no pr2 run here" in result.output


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("no system Chromium (CI installs Debian's chromium)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()


def _open(browser, html: Path):
    page = browser.new_page()
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_())
    page.goto(html.as_uri())
    page.wait_for_selector("body[data-ready='1']")
    return page


def test_in_a_real_browser_offline_filters_and_trajectories_work(tmp_path, browser):
    root, _ = make_runs(tmp_path / "demo")
    out = tmp_path / "view.html"
    runner.invoke(app, ["view", str(root), "--output", str(out)])
    page = _open(browser, out)
    assert page.evaluate("window.PWNED") is None  # the post's script never ran
    assert page.inner_text("#row-count") == "6"
    page.click("tr.q[data-id='u0']")
    detail = page.inner_text("tr.detail")
    assert "diet" in detail and "A vegan stew." in detail and "inserted by the loop" in detail
    assert EVIL in detail  # shown as text
    page.select_option("#ended-filter", "length")
    assert page.inner_text("#row-count") == "3"
    page.select_option("#ended-filter", "all")
    page.fill("#score-min", "0.5")
    page.select_option("#run-filter", "PR² trained")
    assert page.inner_text("#row-count") == "3"
    shot = tmp_path / "view.png"
    page.screenshot(path=str(shot), full_page=True)
    from PIL import Image

    pixels = Image.open(shot).convert("L")
    assert pixels.getextrema()[0] < 100 and pixels.size[1] > 200  # text on the page, not a blank screen


def test_a_thousand_questions_open_in_under_three_seconds(tmp_path, browser):
    root, _ = make_runs(tmp_path / "demo", n=1000)
    out = tmp_path / "big.html"
    runner.invoke(app, ["view", str(root), "--output", str(out)])
    import time

    start = time.perf_counter()
    page = _open(browser, out)
    seconds = time.perf_counter() - start
    assert page.inner_text("#row-count") == "1000"
    print(f"1000 questions x 2 runs: {out.stat().st_size / 1e6:.1f} MB, open {seconds:.2f} s")
    assert seconds < 3.0


def _plain_run(tmp_path: Path, tiny_llama_dir: Path) -> tuple[Path, list]:
    """A folder `pr2 run` wrote, with nothing beside it: the questions live in the file it was run on."""
    from pr2.data import sample_questions

    questions = sample_questions("test")[:2]
    src = tmp_path / "data" / "test.jsonl"
    write_questions(src, questions)
    out = tmp_path / "runs" / "plain"
    result = runner.invoke(app, [
        "run", "--questions_address", str(src), "--output_address", str(out), "--split", "test",
        "--max-model-len", "400", "--max-turn-tokens", "16", "--model", str(tiny_llama_dir), "--retriever", "bm25",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out, questions


def test_a_plain_run_folder_shows_its_questions_without_being_told_the_file(tmp_path, tiny_llama_dir, caplog):
    out, questions = _plain_run(tmp_path, tiny_llama_dir)
    payload = build_payload([out])
    assert {qid: q["question"] for qid, q in payload["questions"].items()} == {q.id: q.question for q in questions}
    assert payload["questions"][questions[0].id]["profile_size"] == len(questions[0].profile)
    # a questions file changed since the run is not passed off as what the run answered
    src = tmp_path / "data" / "test.jsonl"
    write_questions(src, [replace(questions[0], question="Something else entirely?"), questions[1]])
    payload = build_payload([out])
    assert all("question" not in q for q in payload["questions"].values())
    assert "changed since the run" in caplog.text


def test_in_a_real_browser_a_plain_run_folder_lists_each_question_text(tmp_path, tiny_llama_dir, browser):
    out, questions = _plain_run(tmp_path, tiny_llama_dir)
    html = tmp_path / "view.html"
    result = runner.invoke(app, ["view", str(out), "--output", str(html)])
    assert result.exit_code == 0, result.output
    page = _open(browser, html)
    for q in questions:
        cells = page.locator(f"tr.q[data-id='{q.id}'] td").all_inner_texts()
        assert cells[1] == q.question and cells[2] == str(len(q.profile)), cells
