// The C client of hookinit's control socket (native/client.c).
#ifndef HOOKINIT_CLIENT_H
#define HOOKINIT_CLIENT_H

// `hookinit hook postStart|preStop`, `hookinit status`, `hookinit ready`:
// argv[1] is the command. Returns the exit code; never calls exit().
int hookinit_client_main(int argc, char **argv);

#endif
