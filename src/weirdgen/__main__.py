from weirdgen.cli import run_main

run_main()
