"""Time ``cml metrics history`` over 100 commits, beside the loop of ``git show`` a user would script.

The repository has 120 commits, each changing the three metrics files (10 metrics each) that its
``dvc.yaml`` names. cml reads every commit from one ``git cat-file --batch`` process; the peer runs
``git show REV:FILE`` for each commit and file (300 processes), without even parsing the JSON.

    python benchmarks/history.py            # Markdown table
    python benchmarks/history.py --json
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from measure import CML, paired, run_alone, timed
FILES = [f"eval/metrics_{index}.json" for index in range(3)]
COMMITS = 120




def make_history_repo(root: Path, commits: int = COMMITS) -> Path:
    """A repository whose ``commits`` commits each change ``FILES`` (10 metrics each), written by one
    ``git fast-import``, with a modified working tree."""
    repo = root / "history-repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    dvc_yaml = "metrics:\n" + "".join(f"  - {name}\n" for name in FILES)

    def metrics(step: int, file_index: int) -> str:
        return json.dumps({f"metric_{m}": round(0.5 + step / 1000 + (file_index * m % 7) / 100, 4) for m in range(10)})

    stream = []
    for step in range(commits):
        message = f"train {step}".encode()
        stream.append(b"commit refs/heads/main\n")
        stream.append(f"committer Bench <bench@example.test> {1_700_000_000 + step * 3600} +0000\n".encode())
        stream.append(b"data %d\n%s\n" % (len(message), message))
        files = {"dvc.yaml": dvc_yaml, **{name: metrics(step, index) for index, name in enumerate(FILES)}}
        for name, text in files.items():
            data = text.encode()
            stream.append(b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(data), data))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(stream), check=True)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=repo, check=True)
    for index, name in enumerate(FILES):
        (repo / name).write_text(metrics(commits, index))
    return repo


def _git_show_loop(count: int) -> list[str]:
    files = " ".join(FILES)
    return ["sh", "-c", f'for rev in $(git rev-list --first-parent -n {count} HEAD); do for file in {files}; do '
                        f'git show "$rev:$file" > /dev/null; done; done']


def history_rows(root: Path, repeat: int) -> list[tuple[str, str, float, float | None]]:
    """Rows ``(case, peer, cml seconds, peer seconds)`` for ``benchmarks/run.py``."""
    repo = make_history_repo(root)
    history, peer = paired([[*CML, "metrics", "history", "-n", "100", "--md"]], [_git_show_loop(100)], repo, repeat)
    slow = max(1, repeat // 2)
    plot = timed([*CML, "metrics", "history", "-n", "100", "--md", "-o", "trend.png"], repo, slow)
    diff = timed([*CML, "metrics", "diff", "--md", "--history", "100"], repo, repeat)
    return [
        ("metrics history -n 100 --md, 3 files × 10 metrics changed in every commit (1 git process)",
         "git show REV:FILE per commit and file (300 processes)", history, peer),
        ("metrics history -n 100 with the trend plot (-o trend.png, 12 panels)", "", plot, None),
        ("metrics diff --md --history 100 (the Trend column)", "", diff, None),
    ]


def main() -> None:
    run_alone(history_rows, __doc__.splitlines()[0], repeat=5)


if __name__ == "__main__":
    main()
