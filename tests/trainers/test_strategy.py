"""The strategy a config names: a TF_CONFIG that cannot describe a cluster is one line."""

import json

import pytest

from trainers import errors
from trainers import strategy

PAIR = {"worker": ["host1:2222", "host2:2222"]}


@pytest.mark.parametrize(
  "text, says",
  [
    (None, "it is not set"),
    ('{"cluster": {"worker": ["h:1"]', "which is not JSON: Expecting ',' delimiter"),
    (json.dumps({"cluster": {"worker": "h:1"}, "task": {}}), 'its "cluster" to map job names'),
    (json.dumps({"cluster": PAIR}), 'its "task" to name a job of the cluster (worker)'),
    (json.dumps({"cluster": PAIR, "task": {"type": "worker", "index": 2}}), "'index': 2"),
    (json.dumps({"cluster": PAIR, "task": {"type": "chief", "index": 0}}), "'type': 'chief'"),
  ],
)
def test_a_tf_config_that_names_no_worker_of_its_cluster_is_one_line(text, says):
  # Before: json's traceback, or TensorFlow's ValueError from inside the strategy.
  with pytest.raises(errors.ConfigError) as error:
    strategy.check_tf_config(text)
  assert str(error.value).startswith(
    "runtime.strategy='multi_worker' reads the TF_CONFIG environment variable"
  )
  assert says in str(error.value), error.value


def test_a_worker_of_its_cluster_is_read():
  text = json.dumps({"cluster": PAIR, "task": {"type": "worker", "index": 1}})
  assert strategy.check_tf_config(text)["task"] == {"type": "worker", "index": 1}
