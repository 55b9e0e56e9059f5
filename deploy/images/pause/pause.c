/* pause: the Kubernetes pod sandbox's process (the image ghcr.io/azwi/pause). It holds the pod's namespaces open:
 * blocks until SIGTERM or SIGINT (then exits 0) and, as PID 1 of the pod's PID namespace when the pod shares it,
 * reaps every orphan that is reparented to it. Built fully static by deploy/build-static.sh; no libc beyond that. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-v") == 0)) {
    printf("pause %s\n", AZWI_VERSION);
    return 0;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGCHLD);
  /* Blocked and taken with sigwaitinfo: no handler runs, so nothing races, and as PID 1 (where the kernel drops
   * signals that have no handler) SIGTERM and SIGINT still arrive. */
  if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
    perror("pause: sigprocmask");
    return 1;
  }
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&set, &info);
    if (sig < 0) {
      if (errno == EINTR) continue;
      perror("pause: sigwaitinfo");
      return 1;
    }
    if (sig == SIGCHLD) {
      while (waitpid(-1, NULL, WNOHANG) > 0) {
      }
      continue;
    }
    fprintf(stderr, "pause: shutting down, got signal %d\n", sig);
    return 0;
  }
}
