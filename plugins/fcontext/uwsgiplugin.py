# fcontext: async cores switched with Boost.Context's assembly jump_fcontext (libboost-context-dev).
NAME = 'fcontext'
LIBS = ['-lboost_context']
