//! Discrete-event simulator of Babel meshes on the real babel-core (grows with its issue).
