"""EMR Serverless entry point: ``vieweratlas analyze --engine spark`` under spark-submit.

The job image (deploy/aws/spark/Dockerfile) holds this file at /opt/vieweratlas/emr_analyze.py;
the stack's schedule starts it with the lake and output arguments, e.g.
``--lake s3://bucket/lake --out /tmp/atlas-out``. spark-submit has already chosen the
master and the driver's memory, so the analysis must not override them: an empty
``analysis.spark.master`` keeps them.
"""

from __future__ import annotations

import os
import sys

from vieweratlas.cli import main

if __name__ == "__main__":
    os.environ["VIEWERATLAS_ANALYSIS__SPARK__MASTER"] = ""
    main(["analyze", "--engine", "spark", *sys.argv[1:]])
