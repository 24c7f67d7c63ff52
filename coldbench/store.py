"""The run directory: manifest, append-only journal, and the final Parquet file.

Layout of a run directory::

    manifest.json     schema_version, versions, host, suite snapshot (redacted), status, times
    journal.jsonl     one JSON object per completed sample, appended as it completes
                      (a multi-process run has one journal.w<k>.jsonl per worker)
    samples.parquet   all samples, labelled, written when the run ends

A run directory is self-contained: `load_run` and everything downstream need nothing else.

Crash safety. Idle-gap, burst and config-update samples are written and flushed to the OS one by
one, before the engine goes on: a `kill -9` loses none that had completed. Samples of load
scenarios (`closed`, `rate`, `warm`; `append(sample, batched=True)`) arrive thousands per
second, so they are buffered and written in batches: one write and flush per `BATCH_INTERVAL_S`
(100 ms) or `BATCH_SAMPLES` samples, whichever comes first, and always on `flush()` (the runner
calls it every 100 ms, so a quiet load scenario does not hold samples longer), before any
unbatched sample, on finish and close (a SIGINT/SIGTERM ends the run through them). A `kill -9`
during a load scenario loses at most the last batch: the samples of the last 100 ms (at most
`BATCH_SAMPLES`). `--resume` does not repeat a load scenario that has journaled samples, so
those requests stay missing; a resumed `warm` scenario re-sends its lost probes.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import orjson
import pandas as pd

from coldbench import __version__
from coldbench.errors import RunFormatError, StorageError
from coldbench.sample import SAMPLE_COLUMNS, Sample

# Run-directory format history (bump on any incompatible change; add a migration in load_run):
#   1 — 2026-12: manifest.json + journal.jsonl (one sample per line) + samples.parquet.
SCHEMA_VERSION = 1

MANIFEST_NAME = "manifest.json"
JOURNAL_NAME = "journal.jsonl"
PARQUET_NAME = "samples.parquet"
RUN_STATUSES = ("running", "complete", "interrupted", "failed")
# Above this many samples the journal is converted to Parquet in chunks (bounded memory) and
# only ground-truth labels recorded during the run are kept (no end-of-run heuristic pass).
LARGE_RUN_SAMPLES = 50_000  # records cost ~5.5 KB a sample on the non-streamed path
_CHUNK_SAMPLES = 10_000  # records as dicts cost ~6 KB a sample until converted
# Low-cardinality text columns, read back dictionary-encoded (categoricals) from a large run.
_DICTIONARY_COLUMNS = ("target", "scenario", "kind", "phase", "error", "label", "label_source")
_LIBRARIES = ("aiohttp", "httptools", "uvloop", "numpy", "pandas", "pyarrow", "matplotlib", "rich",
              "awslambdaric")
BATCH_INTERVAL_S = 0.1  # batched (load) samples reach the journal at least this often
BATCH_SAMPLES = 1000  # ... or every this many samples
_JOURNAL_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def encode_journal_line(sample: Sample) -> str:
    """One journal line (compact JSON, newline-terminated) for a sample. orjson, not json: a
    load scenario journals thousands of samples a second, and orjson writes one in 0.7 µs where
    json takes 6. NaN and infinities become null (json would write invalid JSON). Text orjson
    refuses (lone surrogates: header bytes that were not UTF-8) goes through json's escaping."""
    record = sample.to_record()
    try:
        return orjson.dumps(record, default=str, option=_JOURNAL_OPTIONS).decode()
    except TypeError:
        return json.dumps(record, separators=(",", ":"), default=str) + "\n"


def utc_now_iso() -> str:
    """Return the current UTC wall-clock time as ISO 8601 with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def build_environment() -> dict[str, Any]:
    """Describe the measuring host and software, for reproducibility and compare warnings."""
    versions: dict[str, str | None] = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "coldbench": __version__,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_avg_1m": os.getloadavg()[0],  # other work on the host skews latencies: compare warns
        "libraries": versions,
    }


def build_manifest(suite_snapshot: dict[str, Any], suite_name: str, **extra: Any) -> dict[str, Any]:
    """Return a fresh manifest for a run that is starting now."""
    return {
        "schema_version": SCHEMA_VERSION,
        "suite_name": suite_name,
        "status": "running",
        "started_at": utc_now_iso(),
        "ended_at": None,
        "environment": build_environment(),
        "suite": suite_snapshot,
        **extra,
    }


def save_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to `path` through a temporary file and rename, so readers never see half."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, sort_keys=True, default=str)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc


@dataclass
class JournalStats:
    """What reading a journal found: samples kept, and torn lines if any."""

    samples: int = 0
    torn_lines: int = 0


class RunWriter:
    """Appends samples to a run directory as they complete; finishes it with Parquet."""

    def __init__(self, run_dir: Path, manifest: dict[str, Any] | None, *, resume: bool = False,
                 journal_name: str = JOURNAL_NAME, batch_interval_s: float = BATCH_INTERVAL_S,
                 batch_samples: int = BATCH_SAMPLES) -> None:
        self.run_dir = Path(run_dir)
        self.batch_interval_s = batch_interval_s
        self.batch_samples = batch_samples
        self.manifest = manifest or {}
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            if resume:
                for path in journal_paths(self.run_dir):
                    drop_torn_tail(path)
            if manifest is not None:  # a worker process appends samples only
                save_json_atomic(self.run_dir / MANIFEST_NAME, manifest)
            self._journal: IO[str] = open(self.run_dir / journal_name, "a", encoding="utf-8")
        except OSError as exc:
            raise StorageError(
                f"cannot write run directory {self.run_dir}: {exc.strerror or exc}; "
                "choose another with -o DIR"
            ) from exc
        self.samples_written = 0
        self._pending: list[str] = []  # encoded lines of batched samples not yet written
        self._flush_due_s = time.monotonic() + batch_interval_s

    def append(self, sample: Sample, *, batched: bool = False) -> None:
        """Append one sample. Unbatched: written and flushed to the OS before returning (with any
        batched samples before it, in order). Batched (load scenarios): buffered, and written
        once `batch_interval_s` has passed since the last write or `batch_samples` are waiting
        (module docstring)."""
        self._pending.append(encode_journal_line(sample))
        self.samples_written += 1
        if not batched:
            self.flush()
        elif len(self._pending) >= self.batch_samples or time.monotonic() >= self._flush_due_s:
            self.flush()

    def flush(self) -> None:
        """Write and flush every buffered sample (one write call)."""
        self._flush_due_s = time.monotonic() + self.batch_interval_s
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        try:
            self._journal.write(text)
            self._journal.flush()
        except OSError as exc:
            raise StorageError(
                f"cannot append to {self.run_dir / JOURNAL_NAME}: {exc.strerror or exc}"
            ) from exc

    def update_manifest(self, **fields: Any) -> None:
        """Merge `fields` into the manifest and rewrite it atomically."""
        self.manifest.update(fields)
        save_json_atomic(self.run_dir / MANIFEST_NAME, self.manifest)

    def finish(self, status: str, frame: pd.DataFrame | None = None) -> None:
        """Close the journal, write samples.parquet (from `frame` or the journal), set status."""
        self.flush()
        try:
            self._journal.flush()
            os.fsync(self._journal.fileno())
        except OSError:
            pass
        self._journal.close()
        if frame is None:
            frame = read_journal(self.run_dir)[0]
        save_samples_parquet(self.run_dir, frame)
        self.update_manifest(status=status, ended_at=utc_now_iso(), samples=len(frame),
                             load_avg_1m_at_end=os.getloadavg()[0])

    def close(self) -> None:
        """Close the journal without finishing (the run directory stays resumable)."""
        if not self._journal.closed:
            self.flush()
            self._journal.flush()
            self._journal.close()

    def finish_streamed(self, status: str) -> int:
        """Finish a large run: journal → Parquet chunk by chunk; return the sample count."""
        self.close()
        samples = stream_journal_to_parquet(self.run_dir)
        self.update_manifest(status=status, ended_at=utc_now_iso(), samples=samples,
                             labelling="ground truth recorded during the run (large run: no heuristic pass)")
        return samples


def drop_torn_tail(journal: Path) -> int:
    """Cut a partial last line (a kill mid-write) so appends start on a fresh line; return bytes cut."""
    if not journal.exists():
        return 0
    with open(journal, "rb+") as fh:
        data = fh.read()
        keep = data.rfind(b"\n") + 1
        if keep == len(data):
            return 0
        fh.truncate(keep)
        return len(data) - keep


def iter_journal_records(path: Path, stats: JournalStats) -> Iterator[dict[str, Any]]:
    """Yield journal records; a torn (partial) line is counted in `stats`, not raised."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.endswith("\n"):
                stats.torn_lines += 1  # a kill mid-write: the sample never completed
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                stats.torn_lines += 1
                continue
            if isinstance(record, dict):
                stats.samples += 1
                yield record


def journal_paths(run_dir: Path) -> list[Path]:
    """journal.jsonl plus the per-worker journals (journal.w<k>.jsonl) of a multi-process run."""
    return sorted(p for p in Path(run_dir).glob("journal*.jsonl") if p.is_file())


def read_journal(run_dir: Path) -> tuple[pd.DataFrame, JournalStats]:
    """Read every journal of a run into one sample frame, tolerating torn last lines."""
    stats = JournalStats()
    records: list[dict[str, Any]] = []
    for path in journal_paths(run_dir):
        records.extend(iter_journal_records(path, stats))
    return frame_from_records(records), stats


def worker_journal_name(worker: int) -> str:
    """The journal file of worker `worker` in a multi-process run."""
    return f"journal.w{worker}.jsonl"


def frame_from_records(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Build a sample DataFrame with the standard columns and dtypes from plain records."""
    frame = pd.DataFrame.from_records(records, columns=list(SAMPLE_COLUMNS))
    return normalise_frame(frame)


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Coerce columns to their standard dtypes (headers as JSON text, started_at as UTC time)."""
    frame = frame.copy()
    for column in SAMPLE_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    frame["headers"] = [
        h if isinstance(h, str) else json.dumps(h or {}, sort_keys=True) for h in frame["headers"]
    ]
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True, format="ISO8601")
    float_columns = (
        "latency_ms planned_gap_s gap_s dns_ms connect_ms tls_ms ttfb_ms transfer_ms "
        "label_confidence init_ms platform_init_ms billed_ms lag_ms service_ms"
    ).split()
    for column in float_columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in ("status", "invocation_n"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("Int64")
    for column in ("probe_id", "seq", "bytes_read", "worker"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").fillna(0).astype("int64")
    frame["fresh_connection"] = frame["fresh_connection"].astype("boolean").fillna(True).astype(bool)
    frame["label"] = frame["label"].fillna("unknown")
    frame["label_source"] = frame["label_source"].fillna("none")
    return frame.sort_values(["probe_id", "started_at"], kind="stable").reset_index(drop=True)


def save_samples_parquet(run_dir: Path, frame: pd.DataFrame) -> Path:
    """Write the sample frame to samples.parquet atomically; return its path."""
    path = Path(run_dir) / PARQUET_NAME
    tmp = path.with_suffix(".parquet.tmp")
    try:
        frame.to_parquet(tmp, index=False)
        os.replace(tmp, path)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def count_journal_samples(run_dir: Path) -> int:
    """Number of complete lines in a run's journals (cheap: counts newlines in blocks)."""
    total = 0
    for path in journal_paths(run_dir):
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                total += block.count(b"\n")
    return total


def build_arrow_schema() -> Any:
    """The fixed Arrow schema of samples.parquet (chunks of a large run must agree on it)."""
    import pyarrow as pa

    floats = ("latency_ms planned_gap_s gap_s dns_ms connect_ms tls_ms ttfb_ms transfer_ms "
              "label_confidence init_ms platform_init_ms billed_ms lag_ms service_ms").split()
    ints = ("probe_id", "seq", "bytes_read", "worker", "status", "invocation_n")
    fields = []
    for column in SAMPLE_COLUMNS:
        if column in floats:
            kind = pa.float64()
        elif column in ints:
            kind = pa.int64()
        elif column == "fresh_connection":
            kind = pa.bool_()
        elif column == "started_at":
            kind = pa.timestamp("us", tz="UTC")
        else:
            kind = pa.string()
        fields.append(pa.field(column, kind))
    return pa.schema(fields)


def stream_journal_to_parquet(run_dir: Path, chunk_samples: int = _CHUNK_SAMPLES) -> int:
    """Write samples.parquet from the journals in chunks, never holding the whole run."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(run_dir) / PARQUET_NAME
    tmp = path.with_suffix(".parquet.tmp")
    schema = build_arrow_schema()
    stats = JournalStats()
    total = 0
    with pq.ParquetWriter(tmp, schema) as out:
        chunk: list[dict[str, Any]] = []
        for journal in journal_paths(run_dir):
            for record in iter_journal_records(journal, stats):
                chunk.append(record)
                if len(chunk) >= chunk_samples:
                    total += _write_chunk(out, chunk, schema, pa)
                    chunk = []
        total += _write_chunk(out, chunk, schema, pa)
    os.replace(tmp, path)
    return total


def _write_chunk(out: Any, records: list[dict[str, Any]], schema: Any, pa: Any) -> int:
    if not records:
        return 0
    frame = frame_from_records(records)[list(SAMPLE_COLUMNS)]
    out.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False))
    return len(frame)


def load_sample_columns(run_dir: Path, columns: Sequence[str]) -> pd.DataFrame:
    """Some columns of a run's samples.parquet with bounded memory (large runs): row group by
    row group, low-cardinality text as categoricals (a byte a sample instead of ~40)."""
    import pyarrow.parquet as pq

    dictionary = [c for c in columns if c in _DICTIONARY_COLUMNS]
    parquet = pq.ParquetFile(Path(run_dir) / PARQUET_NAME, read_dictionary=dictionary)
    parts = [parquet.read_row_group(i, columns=list(columns)).to_pandas()
             for i in range(parquet.num_row_groups)]
    if not parts:
        return parquet.schema_arrow.empty_table().select(list(columns)).to_pandas()
    for column in dictionary:  # row groups hold different values: one category set for all
        categories = sorted({str(c) for part in parts for c in part[column].cat.categories})
        for part in parts:
            part[column] = part[column].cat.set_categories(categories)
    return pd.concat(parts, ignore_index=True)


def load_manifest(run_dir: Path | str) -> dict[str, Any]:
    """Read and check a run directory's manifest; RunFormatError names what is wrong."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunFormatError(f"{path}: not a run directory (it does not exist or is a file)")
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.exists():
        raise RunFormatError(f"{path}: not a coldbench run directory (no {MANIFEST_NAME})")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunFormatError(f"{manifest_path}: corrupt manifest ({exc})") from exc
    if not isinstance(manifest, dict) or "schema_version" not in manifest:
        raise RunFormatError(f"{manifest_path}: not a coldbench manifest (no schema_version)")
    version = manifest["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RunFormatError(
            f"{manifest_path}: schema_version {version!r} is newer than this coldbench "
            f"understands ({SCHEMA_VERSION}); upgrade coldbench"
        )
    return manifest


def load_run(run_dir: Path | str) -> pd.DataFrame:
    """Return a run's samples as a DataFrame.

    From samples.parquet when the run finished; otherwise (interrupted or killed) from the
    journal, labelled the same way the end of a run would label it.
    """
    path = Path(run_dir)
    manifest = load_manifest(path)
    parquet = path / PARQUET_NAME
    if parquet.exists():
        try:
            return normalise_frame(pd.read_parquet(parquet))
        except (OSError, ValueError) as exc:
            # Parquet damaged: the journal still holds every sample.
            if not journal_paths(path):
                raise RunFormatError(f"{parquet}: unreadable ({exc}) and no journal") from exc
    frame, _stats = read_journal(path)
    return derive_columns(frame, manifest.get("suite"))


def derive_columns(frame: pd.DataFrame, suite_snapshot: dict[str, Any] | None = None) -> pd.DataFrame:
    """The end-of-run pass over raw samples: labels from the best evidence (coldbench.label)
    and platform fingerprints from response headers (coldbench.fingerprint)."""
    from coldbench.fingerprint import fingerprint_frame
    from coldbench.label import label_frame, scenario_types_from_suite

    if frame.empty:
        return frame
    labelled = label_frame(frame, scenario_types=scenario_types_from_suite(suite_snapshot))
    return fingerprint_frame(labelled)


def write_run_dir(
    run_dir: Path | str, samples: list[Sample], manifest: dict[str, Any] | None = None,
    status: str = "complete",
) -> Path:
    """Write a complete run directory from samples (for tests, imports and fixtures)."""
    path = Path(run_dir)
    manifest = manifest or build_manifest({}, path.name)
    writer = RunWriter(path, manifest)
    for sample in samples:
        writer.append(sample)
    writer.finish(status)
    return path


def running_python() -> str:
    """Return the interpreter path child processes should use (this venv's Python)."""
    return sys.executable
