# Runs one libFuzzer target for a short, fixed time: the fuzz_<name>_smoke test.
#   cmake -DFUZZER=... -DNAME=... -DCORPUS=... -DREGRESSIONS=... -DWORK=... -DSECONDS=...
#         -P RunFuzzSmoke.cmake
# The seed corpus is copied into WORK/corpus (libFuzzer writes new inputs into
# its first directory, and the repository must stay untouched); REGRESSIONS is
# passed as a second, read-only directory. Crash inputs go to WORK/artifacts/.
# The full log is WORK/fuzz.log; WORK/summary.txt holds one line for make test.
foreach(var FUZZER NAME CORPUS REGRESSIONS WORK SECONDS)
	if(NOT DEFINED ${var})
		message(FATAL_ERROR "RunFuzzSmoke.cmake: -D${var}= is missing")
	endif()
endforeach()

file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
if(IS_DIRECTORY ${CORPUS})
	file(GLOB seeds LIST_DIRECTORIES false ${CORPUS}/*)
	if(seeds)
		file(COPY ${seeds} DESTINATION ${WORK}/corpus)
	endif()
endif()
file(GLOB before LIST_DIRECTORIES false ${WORK}/corpus/*)
list(LENGTH before n_before)

set(dirs ${WORK}/corpus)
if(IS_DIRECTORY ${REGRESSIONS})
	list(APPEND dirs ${REGRESSIONS})
endif()

execute_process(
	COMMAND ${FUZZER} -max_total_time=${SECONDS} -timeout=5 -print_final_stats=1
		-artifact_prefix=${WORK}/artifacts/ ${dirs}
	WORKING_DIRECTORY ${WORK}
	RESULT_VARIABLE rc
	OUTPUT_VARIABLE log
	ERROR_VARIABLE log)
file(WRITE ${WORK}/fuzz.log "${log}")

file(GLOB after LIST_DIRECTORIES false ${WORK}/corpus/*)
list(LENGTH after n_after)
set(runs "?")
set(secs "?")
if(log MATCHES "Done ([0-9]+) runs in ([0-9]+) second")
	set(runs ${CMAKE_MATCH_1})
	set(secs ${CMAKE_MATCH_2})
endif()
set(summary "fuzz_${NAME}: ${runs} runs in ${secs} s, corpus ${n_before} -> ${n_after} inputs")

if(NOT rc EQUAL 0)
	string(LENGTH "${log}" len)
	if(len GREATER 60000)
		math(EXPR start "${len} - 60000")
		string(SUBSTRING "${log}" ${start} -1 log)
		set(log "[... start of the log cut; all of it is in ${WORK}/fuzz.log]\n${log}")
	endif()
	file(GLOB artifacts ${WORK}/artifacts/*)
	file(WRITE ${WORK}/summary.txt "${summary}: FAILED (exit ${rc})\n")
	message("${log}")
	message(FATAL_ERROR "fuzz_${NAME}: FAILED (exit ${rc}). Failing input(s): ${artifacts}\n"
		"Keep it as a regression input: copy it into tests/fuzz/regressions/${NAME}/")
endif()
file(WRITE ${WORK}/summary.txt "${summary}\n")
message("${summary}")
