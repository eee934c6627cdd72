/* cli/cmd_serve.c - `tollgate serve`: parse flags over the config file, run the server */
#include "cli/cli.h"

#include <stdio.h>

int tg_cmd_serve(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "serve: not yet\n");
    return 1;
}
