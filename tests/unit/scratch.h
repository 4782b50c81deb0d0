/* Test helper: a test program's scratch folder, made before its tests and removed after. */
#ifndef FL_TEST_SCRATCH_H
#define FL_TEST_SCRATCH_H

/* /tmp/funless-<program>-XXXXXX once scratch_make has run. */
extern char scratch_dir[];

/* A cmocka group's setup and teardown (cmocka_run_group_tests(tests, scratch_make,
 * scratch_remove)). */
int scratch_make(void **state);
int scratch_remove(void **state);

#endif
