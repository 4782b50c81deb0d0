/*
 * worker — `funless worker` (see worker.c for the threading model).
 */
#ifndef FL_WORKER_WORKER_H
#define FL_WORKER_WORKER_H

int worker_main(int argc, char **argv);

#endif
