"""What train.py and evaluate.py share: their context, the data cache and the output files.

Everything a run needs to know arrives as environment variables set by ml-promote, never as
arguments built from event data.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent.parent
GENERATOR = PROJECT / "data" / "generate.py"
ENVIRONMENTS = ("staging", "production")
DEFAULT_OUTPUT_DIR = "out/docs"


class UsageError(Exception):
    """A problem with the environment variables, params.json or the artifact: fix the input."""


def log(message):
    print(message, flush=True)


def context():
    environment = os.environ.get("ML_PROMOTE_ENVIRONMENT", "")
    if not environment:
        raise UsageError(
            "ML_PROMOTE_ENVIRONMENT is not set; expected one of: " + ", ".join(ENVIRONMENTS)
        )
    if environment not in ENVIRONMENTS:
        expected = ", ".join(ENVIRONMENTS)
        raise UsageError(
            f"ML_PROMOTE_ENVIRONMENT must be one of: {expected} (got {environment!r})"
        )
    model = os.environ.get("ML_PROMOTE_MODEL") or "doc-classifier"
    # The model name becomes a folder of the artifact store.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", model):
        raise UsageError(f"ML_PROMOTE_MODEL is not a usable folder name (got {model!r})")
    output_dir = Path(os.environ.get("ML_PROMOTE_OUTPUT_DIR") or DEFAULT_OUTPUT_DIR)
    data_dir = Path(os.environ.get("DOCS_DATA_DIR") or output_dir.parent / "data-cache")
    return {
        "environment": environment,
        "model": model,
        "output_dir": output_dir,
        "data_dir": data_dir,
        "sha": os.environ.get("ML_PROMOTE_SHA") or "unknown",
        "ref": os.environ.get("ML_PROMOTE_REF") or "unknown",
        "run_id": os.environ.get("ML_PROMOTE_RUN_ID") or "local",
    }


def data_file(ctx):
    """The environment's documents, generated into the cache the first time they are needed."""
    folder = ctx["data_dir"] / ctx["environment"]
    path = folder / "documents.jsonl"
    if not path.exists():
        subprocess.run(
            [
                sys.executable,
                str(GENERATOR),
                "--environment",
                ctx["environment"],
                "--out",
                str(folder),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return path


def write_atomic(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_metrics(ctx, metrics):
    path = ctx["output_dir"] / "metrics.json"
    write_atomic(path, json.dumps(metrics, indent=2) + "\n")
    return path


def main_guard(script, main):
    """Runs main(), turning expected failures into one line on stderr and a distinct exit code."""
    try:
        main()
    except UsageError as e:
        print(f"{script}: error: {e}", file=sys.stderr)
        sys.exit(2)
    except subprocess.CalledProcessError as e:
        message = f"data generation failed (exit code {e.returncode})"
        print(f"{script}: error: {message}", file=sys.stderr)
        sys.exit(1)
