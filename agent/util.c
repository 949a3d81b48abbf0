/*
 * agent/util.c - clocks and randomness for the agent and the simulator.
 */
#include <time.h>

#include <openssl/rand.h>

#include "agent.h"

int64_t agent_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t agent_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint32_t agent_rnd32(void)
{
	uint32_t r = 0;

	/* OpenSSL's CSPRNG: jitter that a fleet cannot synchronise on. A failure
	 * leaves 0, the earliest delay: never a reason to stop. */
	(void)RAND_bytes((unsigned char *)&r, sizeof(r));
	return r;
}
