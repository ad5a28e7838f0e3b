# ugreen: async cores switched with ucontext (getcontext/makecontext/swapcontext). glibc only.
NAME = 'ugreen'
