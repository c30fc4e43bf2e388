"""Archive de-identification on Apache Spark: ``deidnode deid SRC --out DST --spark MASTER``.

Needs the ``spark`` extra (``pip install 'deidnode[spark]'``: pyspark, and pyarrow to write to object stores and
HDFS) on the driver and on every executor, and a Java runtime where Spark runs.
"""

from .job import PartitionTask, Summary, run_job, run_spark

__all__ = ["PartitionTask", "Summary", "run_job", "run_spark"]
