# MC_SANITIZE=address -> AddressSanitizer + UndefinedBehaviorSanitizer;
# MC_SANITIZE=thread  -> ThreadSanitizer.
if(MC_SANITIZE STREQUAL "address")
  set(_san -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
elseif(MC_SANITIZE STREQUAL "thread")
  set(_san -fsanitize=thread -fno-omit-frame-pointer)
elseif(NOT MC_SANITIZE STREQUAL "")
  message(FATAL_ERROR "MC_SANITIZE must be '', 'address' or 'thread'")
endif()
if(DEFINED _san)
  add_compile_options(${_san})
  add_link_options(${_san})
endif()
