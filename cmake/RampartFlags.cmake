# Compiler flags shared by every target: warnings, sanitizers, fuzzing, coverage.
# Included once from the top-level CMakeLists.txt, before any target exists, so
# that add_compile_options() reaches every directory. The choices are explained
# in docs/architecture.md ("Compiler warnings").

if(NOT CMAKE_C_COMPILER_ID MATCHES "^(GNU|Clang|AppleClang)$")
	message(FATAL_ERROR "Rampart builds with GCC or Clang, not ${CMAKE_C_COMPILER_ID}")
endif()

# --- Warnings -----------------------------------------------------------------
set(RP_WARNING_FLAGS
	-Wall
	-Wextra
	-Wshadow
	-Wstrict-prototypes
	-Wmissing-prototypes
	-Wvla
	-Wformat=2
	-Wcast-qual
	-Wpointer-arith
)
if(RP_WERROR)
	list(APPEND RP_WARNING_FLAGS -Werror)
endif()
add_compile_options("$<$<COMPILE_LANGUAGE:C>:${RP_WARNING_FLAGS}>")

# --- Variants -----------------------------------------------------------------
if(RP_TSAN AND (RP_SANITIZE OR RP_FUZZ))
	message(FATAL_ERROR "RP_TSAN (ThreadSanitizer) cannot be combined with ASan builds")
endif()
if(RP_FUZZ AND RP_COVERAGE)
	message(FATAL_ERROR "RP_FUZZ and RP_COVERAGE are separate builds; enable one")
endif()
if(RP_CORE_ONLY AND (RP_FUZZ OR RP_SANITIZE OR RP_COVERAGE))
	message(FATAL_ERROR "RP_CORE_ONLY (cross build) cannot be combined with RP_FUZZ, "
			    "RP_SANITIZE or RP_COVERAGE")
endif()

set(RP_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer
		       -fno-sanitize-recover=all)

if(RP_FUZZ)
	if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
		message(FATAL_ERROR "RP_FUZZ needs Clang (libFuzzer): "
				    "configure with -DCMAKE_C_COMPILER=clang")
	endif()
	# Every object gets the fuzzer's coverage instrumentation and the sanitizers;
	# only the fuzz targets link the libFuzzer runtime (-fsanitize=fuzzer, which
	# brings its own main); see tests/fuzz/CMakeLists.txt.
	add_compile_options(-fsanitize=fuzzer-no-link ${RP_SANITIZER_FLAGS})
	add_link_options(-fsanitize=address,undefined)
elseif(RP_SANITIZE)
	add_compile_options(${RP_SANITIZER_FLAGS})
	add_link_options(-fsanitize=address,undefined)
endif()

if(RP_TSAN)
	add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
	add_link_options(-fsanitize=thread)
endif()

if(RP_COVERAGE)
	if(NOT CMAKE_C_COMPILER_ID STREQUAL "GNU")
		message(WARNING "RP_COVERAGE is meant for GCC (gcov/gcovr)")
	endif()
	add_compile_options(--coverage -O0 -g)
	add_link_options(--coverage)
endif()

# rp_test_libraries(VAR): the libraries every test and fuzz target links, among
# those that exist when it is called (after the components have been added).
function(rp_test_libraries out_var)
	set(libs)
	foreach(lib rp_test_support rampart_agent rampart_device rampart_server rampart_core)
		if(TARGET ${lib})
			list(APPEND libs ${lib})
		endif()
	endforeach()
	list(APPEND libs Threads::Threads)
	set(${out_var} ${libs} PARENT_SCOPE)
endfunction()
