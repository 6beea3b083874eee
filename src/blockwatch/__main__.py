from blockwatch.cli import main

main()
