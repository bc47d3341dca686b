"""Rank each user's profile (the paper's command line):
python retrieval.py --input_dataset_addr IN --output_dataset_addr OUT --model_name facebook/contriever-msmarco --batch_size 16
"""

import sys

from pr2.cli import app

if __name__ == "__main__":
    sys.exit(app(["rank", *sys.argv[1:]]))
