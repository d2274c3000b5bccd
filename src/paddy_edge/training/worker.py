"""One process of a multi-process training: `python -m paddy_edge.training.worker MODULE:FUNCTION` runs
FUNCTION(params) as rank RANK of WORLD_SIZE (launch.worker). launch.launch starts it with the stage
function it was given: the train stage's own `run`."""

import sys

from paddy_edge.training.launch import entry_point, worker

if __name__ == "__main__":
    worker(entry_point(sys.argv[1]))
