"""Start the benchmark's commands from a small process, so that each one's peak memory is its own.

On Linux a child's peak resident memory (``ru_maxrss``) counts the pages it had before ``exec``: a copy of its
parent. Started from the benchmark itself, which holds numpy and the test fakes, every command would seem to need
at least the benchmark's memory; started from this bare interpreter, it is charged at most this process's few MB.

Protocol (one JSON document a line): the request ``{"argv", "cwd", "env", "stdout", "stderr"}`` on stdin; the
answers ``{"pid"}`` once the command runs, in a session of its own, then ``{"status", "maxrss", "seconds"}``
(``os.wait4``'s status and ``ru_maxrss``, and the wall time from fork to reaping). Ends at the end of stdin.
"""

import json
import os
import sys
import time


def _answer(document):
    sys.stdout.write(json.dumps(document) + "\n")
    sys.stdout.flush()


def _start(request):
    streams = [os.open(os.devnull, os.O_RDONLY)]
    streams += [os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) for name in ("stdout", "stderr")]
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.chdir(request["cwd"])
            for target, stream in enumerate(streams):
                os.dup2(stream, target)
            os.execvpe(request["argv"][0], request["argv"], request["env"])
        except BaseException as error:
            os.write(2, f"cannot run {request['argv'][0]}: {error}\n".encode())
        finally:
            os._exit(127)
    for stream in streams:
        os.close(stream)
    return pid


def main():
    for line in sys.stdin:
        request = json.loads(line)
        started = time.perf_counter()
        pid = _start(request)
        _answer({"pid": pid})
        _, status, usage = os.wait4(pid, 0)
        _answer({"status": status, "maxrss": usage.ru_maxrss, "seconds": time.perf_counter() - started})


if __name__ == "__main__":
    main()
