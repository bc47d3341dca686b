"""Download LaMP-QA (the paper's command line): python download.py --dataset_save_directory D --cache_dir C"""

import sys

from pr2.cli import app

if __name__ == "__main__":
    sys.exit(app(["download", *sys.argv[1:]]))
