/* SPDX-License-Identifier: MIT */
/* Shared runner for the Check suites: forked tests, non-zero exit on failure. */
#ifndef TERN_UNIT_H
#define TERN_UNIT_H

#include <check.h>
#include <stdlib.h>

static inline int unit_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/* Add tests to a new test case of suite s. */
#define UNIT_TCASE(s, name, ...)                                               \
	do {                                                                   \
		TCase *tc_ = tcase_create(name);                               \
		const TTest *tests_[] = { __VA_ARGS__ };                       \
		for (size_t i_ = 0; i_ < sizeof(tests_) / sizeof(tests_[0]);   \
		     i_++)                                                     \
			tcase_add_test(tc_, tests_[i_]);                       \
		suite_add_tcase(s, tc_);                                       \
	} while (0)

#endif
