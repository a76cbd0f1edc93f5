from cml.cli.main import main

main()
