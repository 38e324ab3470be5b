"""The vidmesh Python SDK and the `vidmesh` command line."""

from ._client import VidmeshClient
from ._errors import VidmeshError
from ._upload import UploadProgress

__all__ = ["UploadProgress", "VidmeshClient", "VidmeshError"]
