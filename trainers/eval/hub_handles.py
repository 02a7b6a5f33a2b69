"""Where a feature network (the I3D, InceptionV3) is loaded from, and what to say when it can't.

Three spellings name a published SavedModel; TF-Hub's models are served from Kaggle Models:

  a local directory       /models/i3d-kinetics-400            (holds saved_model.pb)
  a TF-Hub URL            https://tfhub.dev/deepmind/i3d-kinetics-400/1
                          cached by tensorflow_hub in TFHUB_CACHE_DIR/sha1(url)
  a Kaggle Models handle  deepmind/i3d-kinetics/tensorFlow2/400/1, or its URL
                          https://www.kaggle.com/models/deepmind/i3d-kinetics/tensorFlow2/400/1,
                          cached by kagglehub in
                          KAGGLEHUB_CACHE/models/OWNER/MODEL/FRAMEWORK/VARIATION/VERSION
                          (KAGGLEHUB_CACHE defaults to ~/.cache/kagglehub)

`resolve` returns what `hub.load` / `tf.saved_model.load` should open. A Kaggle handle with a
version whose cache folder holds a SavedModel is opened from there without any network (and
without kagglehub installed); otherwise kagglehub downloads it, when installed and allowed.
The errors say which cache was looked at, so that an offline machine can be prepared by hand.
"""

import hashlib
import os
import re

_KAGGLE_URL = re.compile(r"^https?://(www\.)?kaggle\.com/models/(?P<handle>[^?#]+?)/?$")
_KAGGLE_HANDLE = re.compile(
  r"^(?P<owner>[\w.-]+)/(?P<model>[\w.-]+)/(?P<framework>[\w.-]+)/(?P<variation>[\w.-]+)"
  r"(/(?P<version>\d+))?$"
)


class UnavailableError(RuntimeError):
  """A network could not be located; the message says where it looked and why."""


def tfhub_cache_path(url):
  """Where tensorflow_hub caches `url`: TFHUB_CACHE_DIR (or --tfhub_cache_dir, else the
  system temp dir's tfhub_modules) joined with sha1(url)."""
  from tensorflow_hub import resolver

  cache_dir = resolver.tfhub_cache_dir(use_temp=True)
  return os.path.join(cache_dir, hashlib.sha1(url.encode("utf8")).hexdigest())


def kaggle_handle(source):
  """The Kaggle Models handle `source` names (a handle or a kaggle.com/models URL), else None."""
  match = _KAGGLE_URL.match(source)
  handle = match.group("handle") if match else source
  if "://" in handle or os.path.exists(os.path.expanduser(handle)):
    return None
  handle = re.sub(r"/(frameworks|variations|versions)/", "/", handle)  # the long URL form
  return handle if _KAGGLE_HANDLE.match(handle) else None


def kaggle_cache_path(handle):
  """kagglehub's cache folder of a versioned handle (None without a version)."""
  parts = _KAGGLE_HANDLE.match(handle).groupdict()
  if not parts["version"]:
    return None
  root = os.environ.get("KAGGLEHUB_CACHE") or os.path.join("~", ".cache", "kagglehub")
  return os.path.join(
    os.path.expanduser(root),
    "models",
    parts["owner"],
    parts["model"],
    parts["framework"],
    parts["variation"],
    parts["version"],
  )


def _has_saved_model(directory):
  return bool(directory) and os.path.isfile(os.path.join(directory, "saved_model.pb"))


def resolve(source, allow_download=True):
  """(kind, target): kind "path", "tfhub" or "kaggle"; target is what to load.

  Raises UnavailableError naming the place looked at when nothing can be loaded without a
  download that `allow_download=False` forbids, or kagglehub is needed and missing.
  """
  handle = kaggle_handle(source)
  if handle is not None:
    cached = kaggle_cache_path(handle)
    if _has_saved_model(cached):
      return "kaggle", cached
    where = (
      f"kagglehub's cache {cached!r} (KAGGLEHUB_CACHE/models/OWNER/MODEL/FRAMEWORK/"
      "VARIATION/VERSION, KAGGLEHUB_CACHE defaults to ~/.cache/kagglehub) holds no "
      "saved_model.pb"
      if cached
      else "no version in the handle, so no cache folder can be used offline (append /VERSION)"
    )
    if not allow_download:
      raise UnavailableError(
        f"Kaggle Models handle {handle!r}: {where}, and downloads are disabled."
      )
    try:
      import kagglehub
    except ImportError as e:
      raise UnavailableError(
        f"Kaggle Models handle {handle!r}: {where}, and kagglehub is not "
        "installed to download it (pip install kagglehub)."
      ) from e
    try:
      return "kaggle", kagglehub.model_download(handle)
    except Exception as e:  # network, authentication or missing model
      raise UnavailableError(
        f"Kaggle Models handle {handle!r}: {where}; kagglehub could not "
        f"download it ({type(e).__name__}: {e})."
      ) from e
  if "://" in source:
    cached = tfhub_cache_path(source)
    if not allow_download and not (os.path.isdir(cached) and os.listdir(cached)):
      raise UnavailableError(
        f"TF-Hub handle {source!r}: not in tensorflow_hub's cache {cached!r} (TFHUB_CACHE_DIR"
        "/sha1(handle); TFHUB_MODEL_LOAD_FORMAT must not be UNCOMPRESSED for the cache to be "
        "used), and downloads are disabled."
      )
    return "tfhub", source
  path = os.path.abspath(os.path.expanduser(source))
  if not os.path.isdir(path):
    raise UnavailableError(f"directory {path!r}: no such directory.")
  return "path", path
