"""Other engines for the same split: Hugging Face datasets and Dask.

Each runs the local pipeline's unit of work (:class:`convsplit.run.records.RecordSplitter`)
over another kind of collection, so a record becomes the same samples, rejects and
accounting whichever engine reads it:

- :mod:`.hf_datasets`: a ``datasets.Dataset`` (or ``IterableDataset``) of conversations in,
  a dataset of samples out (``pip install 'convsplit[hf]'``);
- :mod:`.dask`: partitioned files split on a Dask cluster, and :mod:`.dask_bag`: a
  ``dask.bag`` of records split lazily (``pip install 'convsplit[dask]'``).

Importing this package imports neither ``datasets`` nor ``dask``: each function imports what
it needs when called, and a missing package raises
:class:`~convsplit.extras.MissingExtraError` naming the ``pip install`` to run.
"""

from __future__ import annotations

from convsplit.integrations.dask import split_files_dask
from convsplit.integrations.dask_bag import BagSplit, split_bag
from convsplit.integrations.hf_datasets import DatasetSplit, sample_features, split_dataset

__all__ = [
    "BagSplit",
    "DatasetSplit",
    "sample_features",
    "split_bag",
    "split_dataset",
    "split_files_dask",
]
