"""Run PR² (the paper's command line):
python PR2.py --questions_address prepared.jsonl --output_address out/ --model qwen --temperature 0.1 \\
    --judge-model J --split test --subsets ALL --max-model-len 8192
"""

import sys

from pr2.cli import app

if __name__ == "__main__":
    sys.exit(app(["run", *sys.argv[1:]]))
