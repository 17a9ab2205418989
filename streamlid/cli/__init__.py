"""The command line: argparse, printing, exit codes (`streamlid COMMAND`). Nothing outside it imports it."""
