"""The ingest progress bar (rich): bytes of JSON read out of the total, file by file.

It is the pipeline's ``IngestProgress``: ``with ByteProgress() as bar: ingest_paths(...,
progress=bar)``; disabled, it draws nothing (tests, pipes)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from blockwatch.terminal import markup

__all__ = ["ByteProgress"]


class ByteProgress:
    """Bytes of JSON ingested out of the total; per-file position is estimated from the size
    of the documents written and snapped to the file's size when the next file starts."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.total = 0
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if enabled:
            self._progress = Progress(
                TextColumn("[bold]ingest[/] {task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )
        self._base = 0  # bytes of the files already finished
        self._file_size = 0
        self._within = 0

    def __enter__(self) -> ByteProgress:
        if self._progress is not None:
            self._progress.start()
            self._task = self._progress.add_task("", total=None)
        return self

    def start(self, total: int) -> None:
        self.total = total
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=total)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def _show(self, description: str | None = None) -> None:
        if self._progress is None or self._task is None:
            return
        done = self._base + min(self._within, self._file_size)
        if description is None:
            self._progress.update(self._task, completed=done)
        else:
            self._progress.update(self._task, completed=done, description=description)

    def next_file(self, name: str, size: int) -> None:
        self._base += self._file_size
        self._file_size = size
        self._within = 0
        self._show(markup(name))  # the description is rendered as markup: a file name is not

    def advance(self, nbytes: int) -> None:
        self._within += nbytes
        self._show()

    def finish(self) -> None:
        self._base = self.total
        self._file_size = 0
        self._show("done")
