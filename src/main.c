/* main.c - hands argv to the command table */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return tg_cli_main(argc, argv);
}
