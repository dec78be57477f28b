"""Files in, files out: which files a run reads, records split in batches (in worker
processes where asked), atomic output, progress, and the run's accounting."""
