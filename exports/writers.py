"""Writing an export's rows to disk: one file, or a Hugging Face dataset folder with a
file per split, packed as one archive (issue 14).

A folder is what `datasets.load_dataset(folder)` reads as a DatasetDict with `train` and
`test`, and what can be pushed to the Hub as it is:

    data/train-00000-of-00001.jsonl    (or .parquet)
    data/test-00000-of-00001.jsonl
    README.md                          the dataset card: YAML configs, features, splits
    dataset_info.json                  LLaMA-Factory's entry, for that flavour

in that order: the card holds the data files' counts and hashes, so it follows them.
Every byte is a function of the rows and the export's options: the archive's entries
have a fixed date and order and the card names no time or export id, so the same filters
over the same labels give the same archive.
"""

import hashlib
import shutil
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import BinaryIO

import orjson
import pyarrow as pa

from exports.formats import MESSAGES, Source

PROGRESS_EVERY = 20_000
PARQUET_BATCH = 20_000
SPLITS = ("train", "test")
ARCHIVE_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest a zip entry can say


@dataclass(frozen=True)
class FileFacts:
    path: str  # inside the folder, or the file's own name
    split: str | None
    rows: int
    bytes: int
    sha256: str

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "split": self.split,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


def data_file_name(split: str, file_format: str) -> str:
    return f"data/{split}-00000-of-00001.{file_format}"


Target = Path | BinaryIO  # a file to create, or a stream to write into (an archive entry)


@dataclass(frozen=True)
class Written:
    rows: int
    bytes: int
    sha256: str


def write_rows(
    source: Source,
    targets: dict[str, Target],
    file_format: str,
    progress: Callable[[int], None],
) -> dict[str, Written]:
    """Write the rows to one file per key of `targets`: "all" for a single file, or
    "train" and "test". JSON lines may go into a stream (closed when written); Parquet
    goes to files."""
    if file_format == "parquet":
        assert all(isinstance(t, Path) for t in targets.values())
        return _write_parquet(source, targets, progress)  # type: ignore[arg-type]
    return _write_jsonl(source, targets, progress)


class _Digest:
    """A file or stream being written, its sha256 and size taken as it is written
    (reading a file of hundreds of megabytes back to hash it cost a tenth of the time)."""

    def __init__(self, target: Target) -> None:
        self.file = open(target, "wb") if isinstance(target, Path) else target  # noqa: SIM115
        self.sha = hashlib.sha256()
        self.rows = 0
        self.bytes = 0

    def write(self, block: bytes | memoryview) -> None:
        self.file.write(block)
        self.sha.update(block)
        self.bytes += len(block)

    def close(self) -> None:
        self.file.close()

    def written(self) -> Written:
        return Written(rows=self.rows, bytes=self.bytes, sha256=self.sha.hexdigest())


def _write_jsonl(
    source: Source, targets: dict[str, Target], progress: Callable[[int], None]
) -> dict[str, Written]:
    outs: dict[str, _Digest] = {}
    try:
        for key, target in targets.items():
            outs[key] = _Digest(target)
        if source.lines is not None:
            _write_lines(source, outs, progress)
        else:
            _write_rows(source, outs, progress)
    finally:
        for out in outs.values():
            out.close()
    return {key: out.written() for key, out in outs.items()}


def _write_rows(
    source: Source, outs: dict[str, "_Digest"], progress: Callable[[int], None]
) -> None:
    """Rows made one by one (consensus, annotations), serialised by orjson."""
    single = "all" in outs
    lines: dict[str, list[bytes]] = {key: [] for key in outs}
    dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
    assert source.rows is not None
    for done, row in enumerate(source.rows, 1):
        key = "all" if single else row["split"]
        lines[key].append(dumps(row, option=newline))
        if done % 2000 == 0:
            for key, block in lines.items():
                outs[key].write(b"".join(block))
                outs[key].rows += len(block)
                block.clear()
            if done % PROGRESS_EVERY == 0:
                progress(done)
    for key, block in lines.items():
        outs[key].write(b"".join(block))
        outs[key].rows += len(block)


def _write_lines(
    source: Source, outs: dict[str, "_Digest"], progress: Callable[[int], None]
) -> None:
    """Lines that Arrow assembled a chunk at a time: each split's are the data buffer of
    a string array, written as they are."""
    import pyarrow.compute as pc

    done = 0
    assert source.lines is not None
    with _Behind() as behind:
        for lines, splits in source.lines:
            if "all" in outs:
                parts = {"all": lines}
            else:
                parts = {key: lines.filter(pc.equal(splits, key)) for key in outs}
            for key, part in parts.items():
                if len(part):
                    behind.run(outs[key].write, _string_bytes(part))
                    outs[key].rows += len(part)
            done += len(lines)
            progress(done)


class _Behind:
    """Writes done on a thread of their own, in order, while this one makes the next
    chunk: writing and hashing hundreds of megabytes release the GIL, and the thread
    making chunks spends much of its time waiting for the database. At most `depth`
    writes wait; the first failure is raised (at the latest when the block ends)."""

    def __init__(self, depth: int = 4) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="export-write")
        self.pending: deque[Future[None]] = deque()
        self.depth = depth

    def run(self, write: Callable[[memoryview], None], block: memoryview) -> None:
        """write(block) behind. A memoryview holds the buffer it views (an Arrow buffer
        here), so the block's memory lives until it is written."""
        self.pending.append(self.pool.submit(write, block))
        while len(self.pending) > self.depth:
            self.pending.popleft().result()

    def __enter__(self) -> "_Behind":
        return self

    def __exit__(self, *failed: object) -> None:
        try:
            if failed[0] is None:
                while self.pending:
                    self.pending.popleft().result()
        finally:
            for future in self.pending:
                future.cancel()
            self.pool.shutdown(wait=True)


def _string_bytes(strings: pa.Array) -> memoryview:
    """The characters of a string array without nulls, end to end."""
    strings = pa.concat_arrays([strings]) if strings.offset else strings
    offsets = strings.buffers()[1]
    first, last = (int.from_bytes(offsets[i : i + 4], "little") for i in (0, 4 * len(strings)))
    return memoryview(strings.buffers()[2])[first:last]


def _write_parquet(
    source: Source, paths: dict[str, Path], progress: Callable[[int], None]
) -> dict[str, Written]:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    schema = source.schema
    batches = source.batches
    if batches is None:
        batches = (_record_batch(block, schema) for block in _blocks(source))
    writers = {
        key: pq.ParquetWriter(path, schema, compression="zstd") for key, path in paths.items()
    }
    counts = dict.fromkeys(paths, 0)
    done = 0
    try:
        for batch in batches:
            if "all" in writers:
                parts = {"all": batch}
            else:
                is_test = pc.equal(batch.column("split"), "test")
                parts = {"train": batch.filter(pc.invert(is_test)), "test": batch.filter(is_test)}
            for key, part in parts.items():
                if part.num_rows:
                    writers[key].write_batch(part)
                    counts[key] += part.num_rows
            done += batch.num_rows
            progress(done)
        for key, writer in writers.items():
            if not counts[key]:
                writer.write_batch(_record_batch({name: [] for name in schema.names}, schema))
    finally:
        for writer in writers.values():
            writer.close()
    return {
        key: Written(rows=counts[key], bytes=path.stat().st_size, sha256=file_sha256(path))
        for key, path in paths.items()
    }


def _blocks(source: Source) -> Iterator[dict[str, list]]:
    """Rows in blocks of columns, for formats that make rows one by one."""
    assert source.rows is not None
    while rows := list(islice(source.rows, PARQUET_BATCH)):
        yield {name: [row[name] for row in rows] for name in source.columns}


def _record_batch(block: dict[str, list], schema: pa.Schema) -> pa.RecordBatch:
    """Rows as an Arrow record batch, column by column. Message lists are assembled from
    flat role and content arrays and their offsets: pyarrow's generic conversion of
    nested dictionaries was the slowest step of a Parquet export."""
    arrays = []
    for field in schema:
        column = block[field.name]
        if field.type == MESSAGES:
            offsets, roles, contents = [0], [], []
            for messages in column:
                for message in messages:
                    roles.append(message["role"])
                    contents.append(message["content"])
                offsets.append(len(roles))
            values = pa.StructArray.from_arrays(
                [pa.array(roles, pa.string()), pa.array(contents, pa.string())],
                fields=list(field.type.value_type),
            )
            arrays.append(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values))
        else:
            arrays.append(pa.array(column, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class Archive:
    """A zip being written entry by entry: an entry can be streamed into (the biggest
    data file goes straight in, never written twice), copied from a file, or given as
    text. Entries have the same date and mode, so the archive is a function of its
    entries and their order. Stored, not compressed: Parquet is compressed already, and
    deflating hundreds of megabytes of JSON lines cost more than the rest of the export."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.zip = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=ARCHIVE_DATE)
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_STORED
        return info

    def stream(self, name: str) -> BinaryIO:
        """An entry to write into; it is complete when closed."""
        return self.zip.open(self._info(name), "w", force_zip64=True)  # type: ignore[return-value]

    def copy(self, name: str, path: Path) -> None:
        with open(path, "rb") as data, self.stream(name) as out:
            shutil.copyfileobj(data, out, 1 << 20)

    def text(self, name: str, text: str) -> None:
        self.zip.writestr(self._info(name), text.encode())

    def close(self) -> str:
        """Finish the archive; returns its sha256. The file is seekable, so every entry's
        header holds its sizes (no data descriptors, which some stream readers refuse),
        and it is hashed once written (a third of a second for 424 MB)."""
        self.zip.close()
        return file_sha256(self.target)

    def abandon(self) -> None:
        with suppress(Exception):
            self.zip.close()
        with suppress(Exception):
            if self.zip.fp is not None:
                self.zip.fp.close()
