"""The error for media that can never be used: Upload's probe and the transcoder both raise it."""

from __future__ import annotations


class BadMediaError(Exception):
    """The file can never become a video, however often it is retried.

    `reason` is a stable code for machines (e.g. "CORRUPT_MEDIA"); the message is for the
    uploader. Any other exception out of the pipeline (disk full, a bug) is worth a retry.
    """

    def __init__(self, reason: str, message: str):
        super().__init__(reason, message)  # both in args, so the error pickles across processes
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message
