"""Annotation with Label Studio: a campaign pushes videos as tasks, pulls the annotators' exports and
builds the dataset from their majority labels (:mod:`.campaign`, over the HTTP client in
:mod:`.labelstudio`). Reading and aggregating label files is :mod:`vpbench.data.labels`."""
